//! Which backend an API Gateway integration sends its requests to, so that the header
//! (a key to the ALB) goes only to the origins the user named (`origins = […]`), never
//! to a partner's backend on the same API.
//!
//! An integration's target is its URI's host (`https://origin.example.com/path` →
//! `origin.example.com`; the port and path do not change who receives it), or, for an HTTP
//! API private integration, the load balancer listener's ARN ("integrationUri: for an HTTP
//! API private integration, specify the ARN of an Application Load Balancer listener",
//! API Gateway V2 API reference). A host built from a stage variable
//! (`http://${stageVariables.host}/`) is unknown: it can be anything.

/// The host (lower case) or listener ARN an integration URI sends to; `None` when it
/// cannot be told (no scheme, a stage variable in the host, an empty host).
pub fn of(uri: &str) -> Option<String> {
    let uri = uri.trim();
    if is_listener_arn(uri) {
        return Some(uri.to_owned());
    }
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .or_else(|| uri.strip_prefix("HTTPS://"))
        .or_else(|| uri.strip_prefix("HTTP://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Userinfo is not a host: `https://a@b/` sends to b.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().map(|h| format!("[{h}]"))?
    } else {
        host_port.split(':').next().unwrap_or_default().to_owned()
    };
    if host.is_empty() || host.contains(['$', '{', '}']) {
        return None;
    }
    Some(host.to_ascii_lowercase())
}

/// Which of `candidates` (a description and the URI each sends to) may carry the header:
/// with `origins`, those whose host is one of them, the rest left alone with why; without,
/// all of them, but only when they all send to one host. Otherwise the refusal, naming
/// each candidate and its host.
pub fn pick(
    candidates: &[(String, &str)],
    origins: &[String],
) -> Result<(Vec<usize>, Vec<String>), String> {
    let hosts: Vec<Option<String>> = candidates.iter().map(|(_, uri)| of(uri)).collect();
    let shown = |h: &Option<String>| h.clone().unwrap_or_else(|| "an unknown host".into());
    if !origins.is_empty() {
        let mut chosen = Vec::new();
        let mut left = Vec::new();
        for (i, ((what, _), host)) in candidates.iter().zip(&hosts).enumerate() {
            if host.as_ref().is_some_and(|h| origins.contains(h)) {
                chosen.push(i);
            } else {
                left.push(format!(
                    "{what} (to {}): not one of the origins",
                    shown(host)
                ));
            }
        }
        return Ok((chosen, left));
    }
    let mut distinct = hosts.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() <= 1 {
        return Ok(((0..candidates.len()).collect(), Vec::new()));
    }
    let each: Vec<String> = candidates
        .iter()
        .zip(&hosts)
        .map(|((what, _), host)| format!("{what} → {}", shown(host)))
        .collect();
    Err(format!(
        "its integrations send to several hosts ({}), and the header is a key to the origin: name the origins in the configuration (origins = [\"https://your-origin.example.com\"]), or choose the integrations explicitly",
        each.join(", ")
    ))
}

/// An Elastic Load Balancing listener ARN (what an HTTP API private integration names).
pub fn is_listener_arn(s: &str) -> bool {
    s.starts_with("arn:") && s.contains(":elasticloadbalancing:") && s.contains(":listener/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrations_are_picked_by_their_host() {
        let alb = ("i1".to_owned(), "https://alb.example.com/{proxy}");
        let alb2 = ("i2".to_owned(), "http://ALB.example.com:8080/x");
        let partner = ("i3".to_owned(), "https://partner.example.net/hook");
        let variable = ("i4".to_owned(), "https://${stageVariables.h}/");
        // One host: no origins needed.
        assert_eq!(pick(&[alb.clone(), alb2.clone()], &[]).unwrap().0, [0, 1]);
        // Several hosts and no origins: refused, naming each and its host.
        let e = pick(&[alb.clone(), partner.clone(), variable.clone()], &[]).unwrap_err();
        for part in [
            "i1 → alb.example.com",
            "i3 → partner.example.net",
            "i4 → an unknown host",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        // With origins: only those, the rest left alone with why.
        let origins = vec!["alb.example.com".to_owned()];
        let (chosen, left) = pick(&[alb, partner, variable, alb2], &origins).unwrap();
        assert_eq!(chosen, [0, 3]);
        assert_eq!(
            left,
            [
                "i3 (to partner.example.net): not one of the origins",
                "i4 (to an unknown host): not one of the origins"
            ]
        );
    }

    #[test]
    fn the_host_an_integration_sends_to() {
        for (uri, host) in [
            (
                "https://Origin.Example.com/path?q=1",
                Some("origin.example.com"),
            ),
            ("http://origin.example.com:8443", Some("origin.example.com")),
            (
                "https://user:pw@origin.example.com/",
                Some("origin.example.com"),
            ),
            ("https://[2001:db8::1]:443/x", Some("[2001:db8::1]")),
            ("https://${stageVariables.host}/x", None),
            ("https://api.${stageVariables.env}.example.com/", None),
            ("origin.example.com", None),
            ("https:///nohost", None),
            ("arn:aws:lambda:us-east-1:1:function:f", None),
        ] {
            assert_eq!(of(uri).as_deref(), host, "{uri}");
        }
        let arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:listener/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2";
        assert_eq!(of(arn).as_deref(), Some(arn));
    }
}

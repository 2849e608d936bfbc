//! Where a target is called: in another account through an IAM role (`role_arn`, with
//! `external_id` when the role's trust policy asks for one), in another region (`region`).
//! Absent, the default credential chain and region. Every target table and evidence source
//! carries the same three keys; what each table allows is checked here.

/// WAF for CloudFront and CloudFront itself are global services homed in us-east-1.
pub const GLOBAL_REGION: &str = "us-east-1";

/// A target's account and region, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Home {
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub region: Option<String>,
}

/// Whether a service has regions of its own.
#[derive(Debug, Clone, Copy)]
pub(super) enum Regions<'a> {
    /// `region` chooses where it is called.
    Own,
    /// Global, called in us-east-1 (CloudFront, WAF for CloudFront): `region` may only
    /// say so.
    Global,
    /// The target's ARN names its region (and account): `region` and the role's account
    /// must agree with it.
    FromArn {
        region: Option<&'a str>,
        account: Option<&'a str>,
    },
}

impl Home {
    /// The 12-digit account the role is in (`arn:PARTITION:iam::ACCOUNT:role/…`).
    pub fn account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(role_account)
    }

    /// Pushes every problem, each named by `key` + its key (`waf[0].role_arn`).
    pub(super) fn check(&self, key: &str, regions: Regions<'_>, errors: &mut Vec<String>) {
        if let Some(role) = &self.role_arn {
            if role_account(role).is_none() {
                errors.push(format!(
                    "{key}role_arn: \"{role}\" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"
                ));
            }
        }
        if let Some(id) = &self.external_id {
            // Not a secret (IAM User Guide, "Access to AWS accounts owned by third
            // parties"), but nothing here needs to print it either.
            if self.role_arn.is_none() {
                errors.push(format!(
                    "{key}external_id: only with role_arn (it is sent when assuming that role)"
                ));
            }
            if !is_external_id(id) {
                errors.push(format!(
                    "{key}external_id: must be 2 to 1224 characters of letters, digits and +=,.@:/-_ (STS AssumeRole ExternalId)"
                ));
            }
        }
        let Some(region) = &self.region else {
            if let Regions::FromArn {
                account: Some(arn_account),
                ..
            } = regions
            {
                self.check_account(key, arn_account, errors);
            }
            return;
        };
        if !super::evidence::is_region(region) {
            errors.push(format!(
                "{key}region: \"{region}\" is not an AWS region name such as eu-west-1"
            ));
            return;
        }
        match regions {
            Regions::Own => {}
            Regions::Global if region == GLOBAL_REGION => {}
            Regions::Global => errors.push(format!(
                "{key}region: \"{region}\": this service is global and called in {} (leave region out)",
                GLOBAL_REGION
            )),
            Regions::FromArn {
                region: arn_region,
                account,
            } => {
                if let Some(arn_region) = arn_region {
                    if arn_region != region {
                        errors.push(format!(
                            "{key}region: \"{region}\" is not the region the ARN names ({arn_region}); leave region out"
                        ));
                    }
                }
                if let Some(arn_account) = account {
                    self.check_account(key, arn_account, errors);
                }
            }
        }
    }

    fn check_account(&self, key: &str, arn_account: &str, errors: &mut Vec<String>) {
        if let Some(role_account) = self.account() {
            if role_account != arn_account {
                errors.push(format!(
                    "{key}role_arn: the role is in account {role_account} but the ARN names account {arn_account}"
                ));
            }
        }
    }
}

/// The account of an IAM role ARN, if `arn` is one: `arn:PARTITION:iam::ACCOUNT:role/NAME`,
/// the name (with its path) of the characters IAM allows.
pub fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("role/")?;
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && !name.ends_with('/')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b));
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (arn_ == "arn"
        && partition.starts_with("aws")
        && service == "iam"
        && region.is_empty()
        && account_ok
        && name_ok)
        .then_some(account)
}

/// STS's pattern for `ExternalId`: `[\w+=,.@:/-]*`, 2 to 1224 characters.
fn is_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_read_for_their_account() {
        assert_eq!(
            role_account("arn:aws:iam::222222222222:role/x"),
            Some("222222222222")
        );
        assert_eq!(
            role_account("arn:aws-cn:iam::222222222222:role/path/to/edgeguard-rotation"),
            Some("222222222222")
        );
        for bad in [
            "",
            "arn:aws:iam::22222222222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:iam:us-east-1:222222222222:role/x",
            "arn:aws:sts::222222222222:role/x",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:role/has space",
            "role/x",
        ] {
            assert_eq!(role_account(bad), None, "{bad}");
        }
    }

    fn problems(home: &Home, regions: Regions<'_>) -> Vec<String> {
        let mut errors = Vec::new();
        home.check("t[0].", regions, &mut errors);
        errors
    }

    #[test]
    fn each_key_is_checked_and_named() {
        let home = Home {
            role_arn: Some("nope".into()),
            external_id: Some("x".into()),
            region: Some("Mars".into()),
        };
        let errors = problems(&home, Regions::Own);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("t[0].role_arn:"));
        assert!(errors[1].starts_with("t[0].external_id: must be"));
        assert!(errors[2].starts_with("t[0].region:"));
        let lone = Home {
            external_id: Some("partner-42".into()),
            ..Home::default()
        };
        assert_eq!(
            problems(&lone, Regions::Own),
            ["t[0].external_id: only with role_arn (it is sent when assuming that role)"]
        );
    }

    #[test]
    fn a_global_service_takes_no_other_region() {
        let home = |r: &str| Home {
            region: Some(r.into()),
            ..Home::default()
        };
        assert!(problems(&home("us-east-1"), Regions::Global).is_empty());
        let errors = problems(&home("eu-west-1"), Regions::Global);
        assert!(errors[0].contains("global"), "{errors:?}");
        assert!(problems(&home("eu-west-1"), Regions::Own).is_empty());
    }

    #[test]
    fn an_arn_s_region_and_account_must_agree() {
        let regions = Regions::FromArn {
            region: Some("eu-west-1"),
            account: Some("111111111111"),
        };
        let home = Home {
            role_arn: Some("arn:aws:iam::222222222222:role/x".into()),
            external_id: None,
            region: Some("eu-west-2".into()),
        };
        let errors = problems(&home, regions);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("eu-west-1"));
        assert!(errors[1].contains("account 222222222222") && errors[1].contains("111111111111"));
        // Without a region key, the account is still checked.
        let home = Home {
            region: None,
            ..home
        };
        assert_eq!(problems(&home, regions).len(), 1);
    }
}

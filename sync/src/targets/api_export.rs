//! What an API Gateway stage *serves*, read from its OpenAPI export.
//!
//! A REST API change is served only after a deployment, and an HTTP API stage without
//! auto-deploy likewise: the API's working copy (GetResources, GetIntegrations) can hold a
//! value the stage does not send yet. The stage's export does show the deployed
//! integrations: REST `GetExport` (type `oas30`, parameter `extensions=integrations`) and
//! HTTP API `ExportApi` (`StageName`, `IncludeExtensions`) both export the stage's
//! deployment with `x-amazon-apigateway-integration` on each method ("API Gateway
//! extensions to OpenAPI", AWS docs). Both are read with this one parser.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The integration of one method as a stage serves it (or as the working copy has it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrationView {
    /// Lowercase: `http_proxy`, `http`, `aws_proxy`, …
    pub kind: String,
    pub uri: String,
    pub connection_id: String,
    pub request_parameters: BTreeMap<String, String>,
    pub request_templates: BTreeMap<String, String>,
}

impl IntegrationView {
    /// What differs from `other`, the header mapping `ignored` aside (the one change this
    /// tool makes), as short phrases without values.
    pub fn differences(&self, other: &Self, ignored: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.kind != other.kind {
            out.push("integration type");
        }
        if self.uri != other.uri {
            out.push("integration URI");
        }
        if self.connection_id != other.connection_id {
            out.push("VPC link");
        }
        let strip = |m: &BTreeMap<String, String>| {
            let mut m = m.clone();
            m.remove(ignored);
            m
        };
        if strip(&self.request_parameters) != strip(&other.request_parameters) {
            out.push("request parameter mappings");
        }
        if self.request_templates != other.request_templates {
            out.push("mapping templates");
        }
        out
    }
}

/// `GET` → `get`; `ANY` → the extension OpenAPI uses for it.
pub fn export_method(http_method: &str) -> String {
    if http_method.eq_ignore_ascii_case("ANY") {
        "x-amazon-apigateway-any-method".into()
    } else {
        http_method.to_ascii_lowercase()
    }
}

/// An exported stage: path → method (as [`export_method`] names it) → integration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Export {
    pub methods: BTreeMap<(String, String), IntegrationView>,
}

#[derive(Deserialize)]
struct RawExport {
    #[serde(default)]
    paths: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawIntegration {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    uri: String,
    #[serde(default)]
    connection_id: String,
    #[serde(default)]
    request_parameters: BTreeMap<String, String>,
    #[serde(default)]
    request_templates: BTreeMap<String, String>,
}

impl Export {
    /// Parses an OpenAPI 3 (or Swagger 2) export in JSON. Methods without an integration
    /// extension are left out. The error names no value.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let raw: RawExport = serde_json::from_slice(body)
            .map_err(|e| format!("the stage's export is not OpenAPI JSON ({e})"))?;
        let mut methods = BTreeMap::new();
        for (path, operations) in raw.paths {
            for (method, operation) in operations {
                let Some(integration) = operation.get("x-amazon-apigateway-integration") else {
                    continue;
                };
                let i: RawIntegration =
                    serde_json::from_value(integration.clone()).map_err(|_| {
                        format!("{path} {method}: an integration this tool cannot read")
                    })?;
                methods.insert(
                    (path.clone(), method.to_ascii_lowercase()),
                    IntegrationView {
                        kind: i.kind.to_ascii_lowercase(),
                        uri: i.uri,
                        connection_id: i.connection_id,
                        request_parameters: i.request_parameters,
                        request_templates: i.request_templates,
                    },
                );
            }
        }
        Ok(Self { methods })
    }

    pub fn get(&self, path: &str, http_method: &str) -> Option<&IntegrationView> {
        self.methods
            .get(&(path.to_owned(), export_method(http_method)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape of a REST API stage export (GetExport oas30, extensions=integrations), as
    // the AWS documentation's example shows it.
    const REST: &str = r#"{
      "openapi": "3.0.1",
      "info": {"title": "edge", "version": "2026-12-01T00:00:00Z"},
      "paths": {
        "/{proxy+}": {
          "x-amazon-apigateway-any-method": {
            "parameters": [{"name": "proxy", "in": "path", "required": true}],
            "x-amazon-apigateway-integration": {
              "type": "http_proxy", "httpMethod": "ANY",
              "uri": "https://alb.example.com/{proxy}",
              "connectionType": "INTERNET",
              "requestParameters": {
                "integration.request.path.proxy": "method.request.path.proxy",
                "integration.request.header.x-origin-verify": "'v1'"
              },
              "passthroughBehavior": "when_no_match", "timeoutInMillis": 29000
            }
          }
        },
        "/orders": {"get": {"responses": {}}}
      }
    }"#;

    #[test]
    fn a_stage_export_shows_each_deployed_integration() {
        let e = Export::parse(REST.as_bytes()).unwrap();
        let i = e.get("/{proxy+}", "ANY").unwrap();
        assert_eq!(i.kind, "http_proxy");
        assert_eq!(
            i.request_parameters["integration.request.header.x-origin-verify"],
            "'v1'"
        );
        assert!(
            e.get("/orders", "GET").is_none(),
            "no integration extension"
        );
        let mut changed = i.clone();
        changed.request_parameters.insert(
            "integration.request.header.x-origin-verify".into(),
            "'v2'".into(),
        );
        assert!(
            changed
                .differences(i, "integration.request.header.x-origin-verify")
                .is_empty()
        );
        changed.uri = "https://other.example.com/".into();
        assert_eq!(
            changed.differences(i, "integration.request.header.x-origin-verify"),
            ["integration URI"]
        );
        assert!(Export::parse(b"not json").is_err());
    }
}

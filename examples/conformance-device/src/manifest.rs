//! The part of a device manifest the runtime registers: name, group and command specs.
//!
//! Schemas are converted from YAML to JSON text by hand, walking the ordered YAML mapping,
//! so the registration lists schema keys in the manifest's order, as the official client does.

use anyhow::{bail, Context, Result};
use lua_device::CommandSpec;
use yaml_rust2::{Yaml, YamlLoader};

/// A manifest, reduced to what registration needs.
pub struct Manifest {
    pub name: String,
    pub group: Option<String>,
    pub commands: Vec<CommandSpec>,
}

impl Manifest {
    pub fn parse(source: &str) -> Result<Self> {
        let docs = YamlLoader::load_from_str(source).context("manifest is not YAML")?;
        let Some(doc) = docs.first() else {
            bail!("manifest is empty")
        };
        let name = doc["name"]
            .as_str()
            .context("manifest has no name")?
            .to_string();
        let group = doc["group"].as_str().map(str::to_string);
        let mut commands = Vec::new();
        for command in doc["commands"].as_vec().into_iter().flatten() {
            let name = command["name"].as_str().context("a command has no name")?;
            let description = command["description"].as_str().unwrap_or_default();
            let mut spec = CommandSpec::new(name.to_string(), description.to_string());
            if !command["inputSchema"].is_badvalue() {
                let json = to_json(&command["inputSchema"])?;
                spec = spec.with_input_schema_json(&json)?;
            }
            if let Some(ms) = command["timeoutMs"].as_i64() {
                spec = spec.with_timeout_ms(u64::try_from(ms).context("negative timeoutMs")?);
            }
            let retry = &command["retry"];
            if !retry.is_badvalue() {
                let attempts = retry["maxAttempts"].as_i64().context("retry.maxAttempts")?;
                let backoff = retry["backoffMs"].as_i64().context("retry.backoffMs")?;
                spec = spec.with_retry(u32::try_from(attempts)?, u64::try_from(backoff)?);
            }
            commands.push(spec);
        }
        Ok(Self {
            name,
            group,
            commands,
        })
    }
}

fn to_json(yaml: &Yaml) -> Result<String> {
    let mut out = String::new();
    write_json(yaml, &mut out)?;
    Ok(out)
}

fn write_json(yaml: &Yaml, out: &mut String) -> Result<()> {
    match yaml {
        Yaml::Null => out.push_str("null"),
        Yaml::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Yaml::Integer(i) => out.push_str(&i.to_string()),
        Yaml::Real(r) => {
            let f: f64 = r.parse().with_context(|| format!("number {r}"))?;
            out.push_str(&serde_json::to_string(&f)?);
        }
        Yaml::String(s) => out.push_str(&serde_json::to_string(s)?),
        Yaml::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out)?;
            }
            out.push(']');
        }
        Yaml::Hash(map) => {
            out.push('{');
            for (i, (key, value)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => bail!("unsupported mapping key {other:?}"),
                };
                out.push_str(&serde_json::to_string(&key)?);
                out.push(':');
                write_json(value, out)?;
            }
            out.push('}');
        }
        Yaml::Alias(_) | Yaml::BadValue => bail!("unsupported YAML node {yaml:?}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conformance_manifest_registers_exactly() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../manifests/conformance-device.yaml"
        );
        let m = Manifest::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            (m.name.as_str(), m.group.as_deref()),
            ("conformance-device", Some("conformance"))
        );
        let json = serde_json::to_string(&m.commands).unwrap();
        assert!(json.starts_with(r#"[{"name":"echo","description":"Return the payload unchanged","inputSchema":{"type":"object"}}"#), "{json}");
        assert!(json.contains(r#"{"name":"fire_trigger","description":"Fire the alert trigger and return the gateway's acknowledgement","inputSchema":{"type":"object","properties":{"level":{"type":"string","enum":["low","high"]}},"required":["level"]}}"#), "{json}");
        assert!(json.ends_with(r#""required":["ms"]},"timeoutMs":65000,"retry":{"maxAttempts":2,"backoffMs":500}}]"#), "{json}");
        let names: Vec<&str> = m.commands.iter().map(|c| c.name.as_ref()).collect();
        assert_eq!(
            names,
            ["echo", "fail", "count", "no_output", "fire_trigger", "slow"]
        );
    }
}

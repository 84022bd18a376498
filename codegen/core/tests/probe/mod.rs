//! What the host probes of the Pico W's sources share: the firmware's own dependency lines
//! (from the project template), so the host compiles the versions and features the chip does.

const CARGO_TEMPLATE: &str = include_str!("../../../../templates/pico-w/Cargo.toml.j2");

/// The firmware's dependency line for `name`, as a host dependency (no `defmt`).
pub fn dependency(name: &str) -> String {
    let line = CARGO_TEMPLATE
        .lines()
        .find(|l| l.starts_with(&format!("{name} =")))
        .unwrap_or_else(|| panic!("Cargo.toml.j2 has no {name} dependency"));
    line.replace(", optional = true", "")
        .replace(", features = [\"defmt\"]", "")
        .replace(", \"defmt\"]", "]")
}

/// The `[dependencies]` lines of every crate the template's `tls` feature turns on (its
/// `dep:NAME` entries), plus `extra` crates of the firmware's.
pub fn tls_dependencies(extra: &[&str]) -> String {
    let feature = CARGO_TEMPLATE
        .lines()
        .find(|l| l.starts_with("tls = ["))
        .expect("Cargo.toml.j2 has a tls feature");
    feature
        .split('"')
        .filter_map(|part| part.strip_prefix("dep:"))
        .chain(extra.iter().copied())
        .map(dependency)
        .collect::<Vec<_>>()
        .join("\n")
}

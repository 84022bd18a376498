//! Generate every manifest of the repository (examples and the valid test corpus) with the
//! build-script door, plus a table of each command's schema and generated check.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn manifests() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    // This crate's own manifests hold shapes no example has (see their comments).
    for dir in [
        "manifests",
        "codegen/core/tests/corpus/valid",
        "examples/all-manifests/manifests",
    ] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("manifest directories exist")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        entries.sort();
        out.extend(entries);
    }
    out
}

fn main() -> Result<(), luagen::BuildError> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut all = String::new();
    let mut table = String::from("/// (device, type, schema JSON, check) for every command input, output and trigger.\npub fn checks() -> Vec<Case> {\n    vec![\n");
    for path in manifests() {
        luagen::Builder::new()
            .manifest(&path)
            .agent(true)
            .generate()?;
        let device = luagen::load_file(&path).map_err(luagen::BuildError::Load)?;
        let module = luagen::ident::rust_snake(&device.name);
        writeln!(
            all,
            "pub mod {module} {{ include!(concat!(env!(\"OUT_DIR\"), \"/{module}.rs\")); }}"
        )
        .unwrap();
        // The Pico W's payload types: the same checks, serde swapped for generated JSON
        // readers and writers, held here to the serde derives.
        let chip = luagen::emit::pico_w::PicoWProject::new(&device)
            .payloads()
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(out_dir.join(format!("{module}_chip.rs")), chip)
            .expect("OUT_DIR is writable");
        writeln!(
            all,
            "pub mod {module}_chip {{ include!(concat!(env!(\"OUT_DIR\"), \"/{module}_chip.rs\")); }}"
        )
        .unwrap();
        let roots = device
            .commands
            .iter()
            .flat_map(|c| {
                [
                    (c.input, c.input_schema.as_ref()),
                    (c.output, c.output_schema.as_ref()),
                ]
            })
            .chain(
                device
                    .triggers
                    .iter()
                    .map(|t| (t.payload, t.payload_schema.as_ref())),
            );
        let types = luagen::emit::rust::DeviceNames::new(&device).types;
        for (id, schema) in roots {
            let (Some(id), Some(schema)) = (id, schema) else {
                continue;
            };
            let ty = types.ty(id);
            let schema = device.standalone_schema(schema).to_string();
            writeln!(
                table,
                "        Case {{ device: {:?}, ty: {ty:?}, schema: {schema:?}, check: |v| <{module}::{ty} as lua_device::typed::Check>::check(v, &mut lua_device::typed::FieldPath::root()), round_trip: |v| round_trip::<{module}::{ty}>(v), chip_round_trip: |v| chip_round_trip::<{module}_chip::{ty}>(v) }},",
                device.name
            )
            .unwrap();
        }
    }
    table.push_str("    ]\n}\n");
    std::fs::write(out_dir.join("all.rs"), all).expect("OUT_DIR is writable");
    std::fs::write(out_dir.join("checks.rs"), table).expect("OUT_DIR is writable");
    Ok(())
}

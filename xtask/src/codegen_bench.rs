//! Code generation against typify, the reference JSON-Schema-to-Rust generator, side by side on
//! the same schemas: every manifest in `manifests/` and a synthetic 1,000-command catalogue.
//!
//! typify is handed the manifest's schemas already parsed (it has no manifest format), so its
//! column is schema -> types -> tokens. luagen's columns start from the manifest text: YAML with
//! spans, the manifest and JSON Schema checks and the IR ("load"), then the payload types with
//! their checks ("types"), and the whole device module (types, handler trait, dispatch)
//! formatted. The like-for-like ratio is luagen's load + types against typify.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use luagen::emit::rust::RustEmitter;
use proc_macro2::TokenStream;
use serde_json::Value;

use crate::report::Table;

/// Repeat each measurement until this much time has passed, then report the median.
const BUDGET: Duration = Duration::from_millis(1_500);

pub fn table() -> Result<Table> {
    if cfg!(debug_assertions) {
        return in_release_build();
    }
    measure_all()
}

/// `cargo xtask` is a debug build, and timing a debug build of two code generators measures
/// the debug build: the table is measured by a release build of this task runner instead.
fn in_release_build() -> Result<Table> {
    let out = std::env::temp_dir().join(format!("luagen-codegen-{}.json", std::process::id()));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("codegen: building the task runner in release...");
    let status = std::process::Command::new(cargo)
        .current_dir(lua_testkit::deps::workspace_root())
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "xtask",
            "--",
            "codegen-table",
        ])
        .arg(&out)
        .status()
        .context("running the release task runner")?;
    if !status.success() {
        anyhow::bail!("the release codegen measurement failed with {status}");
    }
    let json = std::fs::read_to_string(&out)?;
    let _ = std::fs::remove_file(&out);
    Table::from_json(&serde_json::from_str(&json)?)
}

/// The hidden task `codegen-table <file>` behind [`in_release_build`].
pub fn write_table(out: Option<&str>) -> Result<()> {
    let out = out.context("usage: cargo xtask codegen-table <file.json>")?;
    std::fs::write(out, measure_all()?.to_json().to_string())?;
    Ok(())
}

fn measure_all() -> Result<Table> {
    let root = lua_testkit::deps::workspace_root();
    let mut inputs: Vec<(String, String)> = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(root.join("manifests"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into();
        inputs.push((name, std::fs::read_to_string(&path)?));
    }
    inputs.push((
        "synthetic, 1,000 commands".into(),
        lua_testkit::synthetic::manifest(1_000),
    ));

    let mut table = Table::new(
        "Code generation: luagen vs typify (median ms per manifest)",
        &[
            "manifest",
            "schemas",
            "luagen load",
            "luagen types",
            "luagen device, formatted",
            "typify types",
            "typify formatted",
            "(load+types) / typify",
        ],
    );
    let mut ratios = Vec::new();
    let mut end_to_end = None;
    for (i, (name, text)) in inputs.iter().enumerate() {
        eprintln!("codegen: {name}...");
        let row = measure(name, text);
        match row {
            Ok(m) => {
                if i + 1 == inputs.len() {
                    end_to_end = Some(m.load + m.device_formatted);
                }
                let ratio = (m.load + m.types).as_secs_f64() / m.typify.as_secs_f64();
                ratios.push(ratio);
                table.row([
                    name.clone(),
                    m.schemas.to_string(),
                    ms(m.load),
                    ms(m.types),
                    ms(m.device_formatted),
                    ms(m.typify),
                    ms(m.typify_formatted),
                    format!("{ratio:.2}x"),
                ]);
            }
            Err(e) => table.row([name.clone(), format!("failed: {e:#}")]),
        }
    }
    if let Some(worst) = ratios.iter().cloned().reduce(f64::max) {
        table.note(format!(
            "luagen load + types takes {worst:.2}x typify's time at worst (< 1 is faster); \
             luagen's load also validates the manifest and every schema with spans, which \
             typify does not do"
        ));
    }
    table.note(
        "\"device, formatted\" is everything `luagen rust` prints: payload types, checks, \
         handler trait and dispatch, through prettyplease",
    );
    if let Some(total) = end_to_end {
        table.note(format!(
            "`luagen rust` on the 1,000-command manifest (load + device, formatted): {} ms \
             (goal: well under 1 s, issue 17), formatting on {} threads; one rendering path \
             (the proc-macro's tokens, parsed and printed) since the syn-tree twin of the \
             emitter, which made 114 ms, was removed",
            ms(total),
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ));
    }
    Ok(table)
}

struct Measurement {
    schemas: usize,
    load: Duration,
    types: Duration,
    device_formatted: Duration,
    typify: Duration,
    typify_formatted: Duration,
}

fn measure(name: &str, text: &str) -> Result<Measurement> {
    let file = format!("{name}.yaml");
    let device = luagen::load_str(&file, text).map_err(|e| anyhow!("{e}"))?;
    let schemas = schemas(&device);
    let load = median(|| {
        let _ = std::hint::black_box(luagen::load_str(&file, text));
    });
    let types = median(|| {
        std::hint::black_box(RustEmitter::new(&device).types());
    });
    let device_formatted = median(|| {
        std::hint::black_box(RustEmitter::new(&device).source());
    });
    // Fail before timing if typify cannot take these schemas.
    typify_tokens(&device.definitions, &schemas)?;
    let typify = median(|| {
        let _ = std::hint::black_box(typify_tokens(&device.definitions, &schemas));
    });
    let typify_formatted = median(|| {
        let tokens = typify_tokens(&device.definitions, &schemas).expect("checked above");
        std::hint::black_box(format(tokens));
    });
    Ok(Measurement {
        schemas: schemas.len(),
        load,
        types,
        device_formatted,
        typify,
        typify_formatted,
    })
}

/// Every payload schema of the device, named as luagen names its types.
fn schemas(device: &luagen::Device) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let pascal = |s: &str| -> String {
        s.split(['_', '-'])
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    };
    for c in &device.commands {
        if let Some(s) = &c.input_schema {
            out.push((pascal(&c.name) + "Input", s.clone()));
        }
        if let Some(s) = &c.output_schema {
            out.push((pascal(&c.name) + "Output", s.clone()));
        }
    }
    for t in &device.triggers {
        if let Some(s) = &t.payload_schema {
            out.push((pascal(&t.name) + "Payload", s.clone()));
        }
    }
    out
}

fn typify_tokens(
    definitions: &indexmap::IndexMap<String, Value>,
    schemas: &[(String, Value)],
) -> Result<TokenStream> {
    use schemars08::schema::Schema;
    let mut space = typify::TypeSpace::new(&typify::TypeSpaceSettings::default());
    let refs = definitions
        .iter()
        .map(|(k, v)| Ok((k.clone(), serde_json::from_value::<Schema>(v.clone())?)))
        .collect::<Result<Vec<_>>>()?;
    space.add_ref_types(refs).context("typify definitions")?;
    for (name, schema) in schemas {
        let schema: Schema = serde_json::from_value(schema.clone())?;
        space
            .add_type_with_name(&schema, Some(name.clone()))
            .with_context(|| format!("typify {name}"))?;
    }
    Ok(space.to_stream())
}

fn format(tokens: TokenStream) -> String {
    syn::parse2::<syn::File>(tokens)
        .map(|file| prettyplease::unparse(&file))
        .unwrap_or_default()
}

fn median(mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < 5 || (started.elapsed() < BUDGET && samples.len() < 200) {
        let t = Instant::now();
        f();
        samples.push(t.elapsed());
    }
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

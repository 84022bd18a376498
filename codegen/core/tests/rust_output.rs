//! The generated Rust for every manifest, as reviewed snapshots. The same files compile in
//! `examples/all-manifests`, which generates them through `luagen::Builder`.

use std::path::Path;

use luagen::emit::rust::{RustEmitter, RustOptions};

fn generate(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap();
    let shown = path.canonicalize().unwrap();
    let shown = shown.strip_prefix(&root).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let device = luagen::load_str(shown, &text).unwrap_or_else(|e| panic!("{e}"));
    let options = RustOptions {
        agent: true,
        ..RustOptions::default()
    };
    RustEmitter::with_options(&device, options).source()
}

#[test]
fn example_manifests() {
    insta::glob!("../../../manifests", "*.yaml", |path| {
        insta::assert_snapshot!(generate(path));
    });
}

#[test]
fn valid_corpus() {
    insta::glob!("corpus/valid/*.yaml", |path| {
        insta::assert_snapshot!(generate(path));
    });
}

#[test]
fn manifest_strings_never_escape_their_literals() {
    let source = generate(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/valid/tricky-names.yaml"),
    );
    // Parsing proves nothing broke out of a string literal or a doc comment.
    let file = syn::parse_file(&source).expect("generated Rust parses");
    assert!(!file.items.is_empty());
    assert!(source.contains(r#"rename = "a/b~c""#));
    assert!(!source.contains("\0"), "NUL is escaped, never pasted");
}

#[test]
fn generating_a_thousand_commands_is_fast_enough_to_run_on_every_build() {
    // Not a timing assertion (those flake): the figure is in `cargo bench`; this only proves
    // the emitter handles a large manifest.
    let mut yaml = String::from("name: big\ncommands:\n");
    for i in 0..1000 {
        yaml.push_str(&format!(
            "  - name: c{i}\n    description: d\n    inputSchema: {{ type: object, properties: {{ a: {{ type: integer, minimum: 0, maximum: 9 }} }}, required: [a] }}\n"
        ));
    }
    let device = luagen::load_str("big.yaml", &yaml).unwrap();
    let source = RustEmitter::new(&device).source();
    assert!(source.contains("C999Input"));
}

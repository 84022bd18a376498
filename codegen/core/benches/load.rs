//! Load + validate + build the IR of a 1,000-command manifest, the size of a large fleet's
//! catalogue. Compared side by side with parsing the same text as plain YAML into JSON (the
//! floor: what any loader must pay) so the figure reads as a ratio, not a machine-dependent time.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fmt::Write;

fn manifest(commands: usize) -> String {
    let mut s = String::from(
        "name: big-device\ngroup: bench\ndescription: A generated manifest\ndefinitions:\n  Point:\n    type: object\n    properties:\n      x: { type: number }\n      y: { type: number }\n    required: [x, y]\ncommands:\n",
    );
    for i in 0..commands {
        write!(
            s,
            "  - name: command_{i}\n    description: Command number {i}\n    inputSchema:\n      type: object\n      properties:\n        label: {{ type: string, minLength: 1, maxLength: 64, pattern: \"^[a-z]+$\" }}\n        level: {{ type: integer, minimum: 0, maximum: 100 }}\n        mode: {{ type: string, enum: [fast, slow, off] }}\n        at: {{ $ref: \"#/definitions/Point\" }}\n        tags: {{ type: array, items: {{ type: string }}, maxItems: 8 }}\n      required: [label, level]\n    outputSchema:\n      type: object\n      properties:\n        ok: {{ type: boolean }}\n      required: [ok]\n    timeoutMs: 5000\n"
        )
        .unwrap();
    }
    s.push_str("triggers:\n  - name: alert\n    description: Something happened\n    payloadSchema: { type: object, properties: { level: { type: integer } } }\n");
    s
}

fn bench(c: &mut Criterion) {
    let text = manifest(1_000);
    assert_eq!(
        luagen::load_str("big.yaml", &text)
            .expect("the generated manifest is valid")
            .commands
            .len(),
        1_000
    );
    let mut group = c.benchmark_group("manifest_1000_commands");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("luagen_load_validate_ir", |b| {
        b.iter(|| luagen::load_str("big.yaml", std::hint::black_box(&text)).unwrap())
    });
    group.bench_function("yaml_to_json_only", |b| {
        b.iter(|| {
            let (node, _) = luagen::yaml::parse(std::hint::black_box(&text)).unwrap();
            node.to_json()
        })
    });
    group.finish();

    // The Rust emitter on the same device: tokens, then prettyplease formatting.
    let device = luagen::load_str("big.yaml", &text).unwrap();
    let mut group = c.benchmark_group("rust_emit_1000_commands");
    group.sample_size(10);
    group.bench_function("tokens", |b| {
        b.iter(|| luagen::emit::rust::RustEmitter::new(std::hint::black_box(&device)).tokens())
    });
    group.bench_function("formatted_source", |b| {
        b.iter(|| luagen::emit::rust::RustEmitter::new(std::hint::black_box(&device)).source())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

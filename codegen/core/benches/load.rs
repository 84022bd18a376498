//! Load + validate + build the IR of a 1,000-command manifest, the size of a large fleet's
//! catalogue. Compared side by side with parsing the same text as plain YAML into JSON (the
//! floor: what any loader must pay) so the figure reads as a ratio, not a machine-dependent time.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lua_testkit::synthetic::manifest;

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

//! The build-script door: generate the label printer's types, checks and handler trait into
//! OUT_DIR, as prost-build does for protobufs.

fn main() -> Result<(), luagen::BuildError> {
    luagen::Builder::new()
        .manifest("../../manifests/label-printer.yaml")
        .agent(true)
        .generate()
}

//! Synthetic manifests of any size, for the benchmarks that need a large catalogue (a big
//! fleet's device with hundreds of commands) rather than the hand-written examples.

use std::fmt::Write;

/// A valid manifest with `commands` commands, each with a five-field input schema using
/// bounds, a pattern, an enum, a shared `$ref` definition and an array, and a small output.
pub fn manifest(commands: usize) -> String {
    let mut s = String::from(
        "name: big-device\ngroup: bench\ndescription: A generated manifest\ndefinitions:\n  Point:\n    type: object\n    properties:\n      x: { type: number }\n      y: { type: number }\n    required: [x, y]\ncommands:\n",
    );
    for i in 0..commands {
        let _ = write!(
            s,
            "  - name: command_{i}\n    description: Command number {i}\n    inputSchema:\n      type: object\n      properties:\n        label: {{ type: string, minLength: 1, maxLength: 64, pattern: \"^[a-z]+$\" }}\n        level: {{ type: integer, minimum: 0, maximum: 100 }}\n        mode: {{ type: string, enum: [fast, slow, off] }}\n        at: {{ $ref: \"#/definitions/Point\" }}\n        tags: {{ type: array, items: {{ type: string }}, maxItems: 8 }}\n      required: [label, level]\n    outputSchema:\n      type: object\n      properties:\n        ok: {{ type: boolean }}\n      required: [ok]\n    timeoutMs: 5000\n"
        );
    }
    s.push_str("triggers:\n  - name: alert\n    description: Something happened\n    payloadSchema: { type: object, properties: { level: { type: integer } } }\n");
    s
}

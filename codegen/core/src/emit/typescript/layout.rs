//! Line breaking for generated TypeScript, as prettier would lay a long method chain out: one
//! call per line below its head, so a field's checks read as a list.

/// Past this, a line is broken.
pub const WIDTH: usize = 100;

/// `expr` on a line indented by `indent` after `prefix_len` characters (`key: `), with its
/// top-level method calls one per line when the line would pass [`WIDTH`]. Expressions that
/// already span lines (an object's members) are left as they are.
pub fn chain(expr: &str, indent: usize, prefix_len: usize) -> String {
    if expr.contains('\n') || indent + prefix_len + expr.len() < WIDTH {
        return expr.to_string();
    }
    let mut out = String::with_capacity(expr.len() + 32);
    let (mut depth, mut quoted, mut escaped, mut prev) = (0i32, false, false, ' ');
    for c in expr.chars() {
        if quoted {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
        } else {
            match c {
                '"' => quoted = true,
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                // A call on the result of a call: its own line.
                '.' if depth == 0 && prev == ')' => {
                    out.push('\n');
                    out.extend(std::iter::repeat_n(' ', indent + 2));
                }
                _ => {}
            }
        }
        out.push(c);
        prev = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[test]
    fn long_chains_break_at_top_level_calls_only() {
        let short = "z.number().int()";
        assert_eq!(chain(short, 2, 5), short);
        let long = format!(
            "z.string().refine((s) => f(s).length > 1, \"a.b(c)\").regex(new RegExp(\"{}\", \"u\"))",
            "x".repeat(80)
        );
        let broken = chain(&long, 2, 7);
        let lines: Vec<&str> = broken.lines().collect();
        assert_eq!(lines.len(), 3, "{broken}");
        assert_eq!(lines[0], "z.string()");
        assert!(lines[1].starts_with("    .refine((s) => f(s).length > 1, \"a.b(c)\")"));
        assert!(lines[2].starts_with("    .regex(new RegExp("));
        assert_eq!(broken.replace(['\n', ' '], ""), long.replace(' ', ""));
    }
}

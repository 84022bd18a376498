//! YAML loaded into a tree that keeps a span for every node.
//!
//! serde_yaml reports locations only for syntax errors; every semantic check in luagen needs to
//! point at the exact key or value, so the manifest is read with yaml-rust2's marked event
//! parser into [`Node`]s, and only then turned into JSON for the schema checks.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::Diagnostic;
use crate::source::Span;

/// Most values a document's aliases may add when they are expanded. The repository's
/// manifests hold 100 to 500 values in all; an alias bomb (`&a [*b, *b, ...]` nine deep) asks
/// for billions, and every value costs again in each generated target (types, checks,
/// codecs), so expansion stops here with an error instead of filling memory and minutes.
pub const ALIAS_BUDGET: usize = 10_000;

/// A YAML value with the span of its source text.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Seq(Vec<Node>),
    /// Entries in source order; keys are strings (others are reported and skipped).
    Map(Vec<(Key, Node)>),
}

/// A mapping key and the span of its text.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Node {
    /// The entry for `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key and value for `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Key, &Node)> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.name == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::String(s) => Some(s),
            _ => None,
        }
    }

    /// The node at a JSON pointer (`/commands/0/name`), if it exists.
    pub fn pointer(&self, pointer: &str) -> Option<&Node> {
        pointer_segments(pointer).try_fold(self, |node, seg| match &node.kind {
            NodeKind::Map(_) => node.get(&seg),
            NodeKind::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
    }

    /// The span of the key whose value is at `pointer`, or the value's span for array items and
    /// the root. Errors about a value as a whole ("unknown key", "missing key") read best there.
    pub fn key_span(&self, pointer: &str) -> Option<Span> {
        let (parent, last) = match pointer.rfind('/') {
            Some(i) => (&pointer[..i], unescape(&pointer[i + 1..])),
            None => return Some(self.span),
        };
        let parent = self.pointer(parent)?;
        match &parent.kind {
            NodeKind::Map(_) => parent.entry(&last).map(|(k, _)| k.span),
            _ => self.pointer(pointer).map(|n| n.span),
        }
    }

    /// The same data as JSON.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number(n) => Value::Number(n.clone()),
            NodeKind::String(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

/// Split a JSON pointer into unescaped segments.
pub fn pointer_segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer.split('/').skip(1).map(unescape)
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Parse one YAML document. A syntax error or an alias expanding past [`ALIAS_BUDGET`] is
/// returned alone (nothing after it can be trusted); duplicate keys and non-string keys are
/// returned with the tree.
pub fn parse(text: &str) -> Result<(Node, Vec<Diagnostic>), Diagnostic> {
    let mut builder = Builder {
        text,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        problems: Vec::new(),
        offsets: CharToByte::new(text),
        expanded: 0,
        over_budget: false,
        fatal: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        let at = CharToByte::new(text).offset(e.marker());
        return Err(Diagnostic::error(
            Span::new(at, at + 1),
            format!("YAML syntax error: {}", e.info()),
        ));
    }
    if let Some(fatal) = builder.fatal {
        return Err(fatal);
    }
    let root = builder.root.unwrap_or(Node {
        kind: NodeKind::Null,
        span: Span::new(0, 0),
    });
    Ok((root, builder.problems))
}

/// yaml-rust2's marker index counts characters; spans here are byte offsets. Marks do not
/// arrive in source order (a mapping's end comes after its last value, block starts after their
/// first key), so the conversion is a table built once, or the identity for ASCII text.
struct CharToByte {
    /// Byte offset of every char index; empty when the text is ASCII.
    table: Vec<usize>,
    len: usize,
}

impl CharToByte {
    fn new(text: &str) -> Self {
        let table = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices().map(|(i, _)| i).collect()
        };
        Self {
            table,
            len: text.len(),
        }
    }

    fn offset(&self, mark: &Marker) -> usize {
        let i = mark.index();
        if self.table.is_empty() {
            i.min(self.len)
        } else {
            self.table.get(i).copied().unwrap_or(self.len)
        }
    }
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
        /// Nodes in this collection, itself included, for the alias budget.
        size: usize,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        pending_key: Option<Node>,
        size: usize,
    },
}

struct Builder<'a> {
    text: &'a str,
    stack: Vec<Frame>,
    /// Each anchored node with its size in nodes, so an alias is priced before it is copied.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    problems: Vec<Diagnostic>,
    offsets: CharToByte,
    /// Values added by expanding aliases so far.
    expanded: usize,
    /// Set at the first alias past [`ALIAS_BUDGET`]: later aliases stay null.
    over_budget: bool,
    /// An error that makes the rest of the tree meaningless (the alias budget): reported alone.
    fatal: Option<Diagnostic>,
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = self.offsets.offset(&mark);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let span = scalar_span(self.text, at, &value, style);
                let plain = style == TScalarStyle::Plain && tag.is_none();
                let kind = if plain {
                    resolve_plain(&value)
                } else {
                    NodeKind::String(value)
                };
                self.push(Node { kind, span }, anchor, 1);
            }
            Event::Alias(id) => {
                let null = Node {
                    kind: NodeKind::Null,
                    span: alias_span(self.text, at),
                };
                let (node, size) = match self.anchors.get(&id) {
                    Some((_, size)) if self.over_budget || self.expanded + size > ALIAS_BUDGET => {
                        if !self.over_budget {
                            self.over_budget = true;
                            self.fatal = Some(
                                Diagnostic::error(
                                    null.span,
                                    format!(
                                        "with this alias, the manifest's aliases expand to \
                                         more than {ALIAS_BUDGET} values (an alias bomb?)"
                                    ),
                                )
                                .with_help(
                                    "write a repeated schema once under `definitions` \
                                     and point at it with `$ref`",
                                ),
                            );
                        }
                        (null, 1)
                    }
                    Some((node, size)) => (node.clone(), *size),
                    None => (null, 1),
                };
                self.expanded += size;
                self.push(node, 0, size);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                start: at,
                anchor,
                items: Vec::new(),
                size: 1,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                start: at,
                anchor,
                entries: Vec::new(),
                pending_key: None,
                size: 1,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (node, anchor, size) = match frame {
                    Frame::Seq {
                        start,
                        anchor,
                        items,
                        size,
                    } => {
                        let end = items.last().map_or(at, |n| n.span.end.max(at));
                        (
                            Node {
                                kind: NodeKind::Seq(items),
                                span: Span::new(start, end),
                            },
                            anchor,
                            size,
                        )
                    }
                    Frame::Map {
                        start,
                        anchor,
                        entries,
                        size,
                        ..
                    } => {
                        // A block mapping's start event is marked after its first key.
                        let start = entries
                            .first()
                            .map_or(start, |(k, _)| k.span.start.min(start));
                        let end = entries.last().map_or(at, |(_, n)| n.span.end.max(at));
                        (
                            Node {
                                kind: NodeKind::Map(entries),
                                span: Span::new(start, end),
                            },
                            anchor,
                            size,
                        )
                    }
                };
                self.push(node, anchor, size);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

impl Builder<'_> {
    /// Add a finished node of `size` nodes to the collection being built (or make it the root).
    fn push(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq {
                items, size: total, ..
            }) => {
                *total += size;
                items.push(node)
            }
            Some(Frame::Map {
                entries,
                pending_key,
                size: total,
                ..
            }) => {
                *total += size;
                match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => {
                        let name = match key.kind {
                            NodeKind::String(s) => s,
                            NodeKind::Number(n) => n.to_string(),
                            NodeKind::Bool(b) => b.to_string(),
                            NodeKind::Null => "null".to_string(),
                            NodeKind::Seq(_) | NodeKind::Map(_) => {
                                self.problems.push(Diagnostic::error(
                                    key.span,
                                    "mapping keys must be plain strings",
                                ));
                                return;
                            }
                        };
                        if entries.iter().any(|(k, _)| k.name == name) {
                            self.problems.push(Diagnostic::error(
                                key.span,
                                format!("duplicate key `{name}`"),
                            ));
                            return;
                        }
                        entries.push((
                            Key {
                                name,
                                span: key.span,
                            },
                            node,
                        ));
                    }
                }
            }
        }
    }
}

/// Plain scalars resolve by the YAML 1.2 core schema, which is what JSON-minded users expect
/// (`yes`/`no`/`on`/`off` stay strings).
fn resolve_plain(value: &str) -> NodeKind {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(value) {
        return NodeKind::Number(n);
    }
    if let Some(n) = parse_float(value) {
        return NodeKind::Number(n);
    }
    NodeKind::String(value.to_string())
}

fn parse_int(value: &str) -> Option<Number> {
    let (sign, digits) = match value.strip_prefix('-') {
        Some(rest) => (-1i128, rest),
        None => (1, value.strip_prefix('+').unwrap_or(value)),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i128>().ok()?
    } else {
        return None;
    };
    let v = sign * magnitude;
    if let Ok(i) = i64::try_from(v) {
        Some(Number::from(i))
    } else {
        u64::try_from(v).ok().map(Number::from)
    }
}

fn parse_float(value: &str) -> Option<Number> {
    let looks_numeric = value
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && value.bytes().any(|b| b.is_ascii_digit());
    // .inf and .nan have no JSON form; they stay strings and fail schema checks visibly.
    if !looks_numeric {
        return None;
    }
    value.parse::<f64>().ok().and_then(Number::from_f64)
}

/// The span of an alias (`*name`) starting at byte `at`.
fn alias_span(text: &str, at: usize) -> Span {
    let rest = text.get(at..).unwrap_or_default();
    let len = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
        .unwrap_or(rest.len());
    Span::new(at, at + len.max(1))
}

/// The span of a scalar's source text: quotes included, block scalars by their indicator.
fn scalar_span(text: &str, at: usize, value: &str, style: TScalarStyle) -> Span {
    let rest = &text[at.min(text.len())..];
    let len = match style {
        TScalarStyle::Plain => {
            let line_end = rest.find('\n').unwrap_or(rest.len());
            value
                .len()
                .min(line_end)
                .max(usize::from(!value.is_empty()))
        }
        TScalarStyle::SingleQuoted => quoted_len(rest, '\''),
        TScalarStyle::DoubleQuoted => quoted_len(rest, '"'),
        TScalarStyle::Literal | TScalarStyle::Folded => 1,
    };
    Span::new(at, at + len)
}

fn quoted_len(rest: &str, quote: char) -> usize {
    let mut chars = rest.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            chars.next();
        } else if c == quote {
            if quote == '\'' && chars.peek().map(|&(_, c)| c) == Some('\'') {
                chars.next();
                continue;
            }
            return i + 1;
        } else if c == '\n' {
            return i;
        }
    }
    rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        let (node, problems) = parse(text).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        node
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "name: greenhouse\ncommands:\n  - name: \"toggle\"\n    timeoutMs: 5000\n";
        let root = parse_ok(text);
        let name = root.pointer("/commands/0/name").unwrap();
        assert_eq!(&text[name.span.start..name.span.end], "\"toggle\"");
        let key = root.key_span("/commands/0/timeoutMs").unwrap();
        assert_eq!(&text[key.start..key.end], "timeoutMs");
        let t = root.pointer("/commands/0/timeoutMs").unwrap();
        assert_eq!(t.kind, NodeKind::Number(5000.into()));
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let root = parse_ok("a: yes\nb: true\nc: 1.5\nd: '12'\ne: ~\nf: 0x10\ng: -3\n");
        let json = root.to_json();
        assert_eq!(
            json,
            serde_json::json!({"a":"yes","b":true,"c":1.5,"d":"12","e":null,"f":16,"g":-3})
        );
    }

    #[test]
    fn non_ascii_offsets_are_bytes() {
        let text = "description: \"héllo wörld\"\nname: x\n";
        let root = parse_ok(text);
        let n = root.get("name").unwrap();
        assert_eq!(&text[n.span.start..n.span.end], "x");
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let (_, problems) = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].message, "duplicate key `a`");
        assert_eq!(problems[0].span.start, 5);
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(
            err.message.starts_with("YAML syntax error"),
            "{}",
            err.message
        );
    }

    /// Nine anchors, each a list of nine aliases of the one before: 9^9 values.
    fn laughs(levels: usize) -> String {
        let mut text = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..levels {
            let p = format!("*l{}", i - 1);
            let items = [p.as_str(); 9].join(", ");
            text.push_str(&format!("l{i}: &l{i} [{items}]\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_stops_at_the_node_budget_with_its_position() {
        let text = laughs(9);
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("more than 10000 values"),
            "{}",
            err.message
        );
        // l4 is the first anchor whose aliases together pass the budget (9^5 > 10000).
        let line_start = text.find("l4:").unwrap();
        assert!(err.span.start > line_start, "{:?}", err.span);
        assert_eq!(&text[err.span.start..err.span.end], "*l3");
    }

    #[test]
    fn aliases_within_the_budget_expand() {
        let (root, problems) = parse(&laughs(4)).unwrap();
        assert!(problems.is_empty());
        let json = root.to_json();
        assert_eq!(json["l3"][8][8][8][8], "lol");
    }

    #[test]
    fn anchors_and_aliases_are_expanded() {
        let root = parse_ok("a: &x {k: 1}\nb: *x\n");
        assert_eq!(root.to_json(), serde_json::json!({"a":{"k":1},"b":{"k":1}}));
    }
}

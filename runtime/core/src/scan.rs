//! The `commandId` and `command` of a message too large to keep, read as it streams past.
//!
//! A device that cannot hold a command still owes its sender an answer (PROTOCOL.md), and the
//! answer needs the command's id. [`CommandScan`] reads a top-level JSON object one byte at a
//! time and keeps only the two string values it is after, each up to [`MAX_VALUE`] bytes: its
//! memory is fixed however large the message. It is not a validator: it trusts the message to
//! be JSON and gives up quietly (no id) where it is not.

use alloc::string::String;

/// The longest `commandId` or `command` value kept; a longer one counts as unreadable.
pub const MAX_VALUE: usize = 256;

/// The fields found, each `None` when absent, not a string, longer than [`MAX_VALUE`] or not
/// valid UTF-8. A key given twice keeps its last value, as the message parser does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The command's `commandId`.
    pub command_id: Option<String>,
    /// The command's name.
    pub command: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    CommandId,
    Command,
}

/// Where the scanner is in the top-level object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// Before the opening `{` (whitespace only).
    Start,
    /// Inside the object, expecting a key (or `}`).
    Key,
    /// After a key, expecting `:`.
    Colon,
    /// After `:`, expecting a value.
    Value,
    /// Inside a value that is not a string at depth 1, or inside a nested container.
    Skip,
    /// After a value, expecting `,` or `}`.
    Comma,
    /// The object closed, or the input is not an object: nothing more to read.
    Done,
}

/// A string being read: what it is for, its decoded bytes so far, escape state.
#[derive(Clone, Debug)]
struct Text {
    /// A key (compared on close), or a value kept for `field`, or skipped (`None` with
    /// `key == false`).
    key: bool,
    field: Option<Field>,
    buf: [u8; MAX_VALUE],
    len: usize,
    overflow: bool,
    /// After a backslash.
    escape: bool,
    /// Hex digits of a `\u` escape read so far, and their value.
    hex: Option<(u8, u16)>,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
}

/// A streaming scan of one message for `commandId` and `command`.
#[derive(Clone, Debug)]
pub struct CommandScan {
    at: At,
    /// Nesting below the top-level object while skipping a container value.
    depth: u32,
    /// Inside a string nested in a skipped container.
    in_nested_string: bool,
    nested_escape: bool,
    text: Option<Text>,
    /// The key just read, when it named a field.
    pending: Option<Field>,
    found: Found,
}

impl Default for CommandScan {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandScan {
    /// A scan before the first byte.
    pub fn new() -> Self {
        Self {
            at: At::Start,
            depth: 0,
            in_nested_string: false,
            nested_escape: false,
            text: None,
            pending: None,
            found: Found::default(),
        }
    }

    /// Read the next bytes of the message.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.at == At::Done {
                return;
            }
            self.byte(b);
        }
    }

    /// What was found.
    pub fn finish(self) -> Found {
        self.found
    }

    fn byte(&mut self, b: u8) {
        if let Some(text) = &mut self.text {
            if text.byte(b) {
                let text = self.text.take().expect("a string was open");
                self.closed(text);
            }
            return;
        }
        let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        match self.at {
            At::Start if space => {}
            At::Start if b == b'{' => self.at = At::Key,
            At::Key | At::Colon | At::Comma if space => {}
            At::Key if b == b'"' => self.text = Some(Text::new(true, None)),
            At::Key if b == b'}' => self.at = At::Done,
            At::Colon if b == b':' => self.at = At::Value,
            At::Value if space => {}
            At::Value if b == b'"' => {
                self.text = Some(Text::new(false, self.pending.take()));
            }
            At::Value => {
                // Any other value replaces an earlier string for the same key.
                let field = self.pending.take();
                self.forget(field);
                self.at = At::Skip;
                self.depth = 0;
                self.skip(b);
            }
            At::Skip => self.skip(b),
            At::Comma if b == b',' => self.at = At::Key,
            At::Comma if b == b'}' => self.at = At::Done,
            _ => self.at = At::Done,
        }
    }

    /// A byte of a non-string value: a scalar ends at `,` or `}` at depth 0, a container when
    /// its brackets balance.
    fn skip(&mut self, b: u8) {
        if self.in_nested_string {
            match (self.nested_escape, b) {
                (true, _) => self.nested_escape = false,
                (false, b'\\') => self.nested_escape = true,
                (false, b'"') => self.in_nested_string = false,
                _ => {}
            }
            return;
        }
        match b {
            b'"' if self.depth > 0 => self.in_nested_string = true,
            b'{' | b'[' => self.depth = self.depth.saturating_add(1),
            b'}' | b']' if self.depth > 0 => {
                self.depth -= 1;
                if self.depth == 0 {
                    self.at = At::Comma;
                }
            }
            b',' if self.depth == 0 => self.at = At::Key,
            b'}' if self.depth == 0 => self.at = At::Done,
            _ => {}
        }
    }

    fn closed(&mut self, text: Text) {
        if text.key {
            self.pending = match text.value() {
                Some("commandId") => Some(Field::CommandId),
                Some("command") => Some(Field::Command),
                _ => None,
            };
            self.at = At::Colon;
            return;
        }
        if let Some(field) = text.field {
            let value = text.value().map(String::from);
            match field {
                Field::CommandId => self.found.command_id = value,
                Field::Command => self.found.command = value,
            }
        }
        self.at = At::Comma;
    }

    fn forget(&mut self, field: Option<Field>) {
        match field {
            Some(Field::CommandId) => self.found.command_id = None,
            Some(Field::Command) => self.found.command = None,
            None => {}
        }
    }
}

impl Text {
    fn new(key: bool, field: Option<Field>) -> Self {
        Self {
            key,
            field,
            buf: [0; MAX_VALUE],
            len: 0,
            overflow: false,
            escape: false,
            hex: None,
            high: None,
        }
    }

    /// Whether a string is worth decoding: keys, and values of the two fields.
    fn kept(&self) -> bool {
        self.key || self.field.is_some()
    }

    /// One byte of the string; true at its closing quote.
    fn byte(&mut self, b: u8) -> bool {
        if let Some((n, value)) = self.hex {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => {
                    self.hex = None;
                    self.overflow = true;
                    return b == b'"';
                }
            };
            let value = value << 4 | u16::from(digit);
            if n < 3 {
                self.hex = Some((n + 1, value));
            } else {
                self.hex = None;
                self.unit(value);
            }
            return false;
        }
        if self.escape {
            self.escape = false;
            let c = match b {
                b'u' => {
                    self.hex = Some((0, 0));
                    return false;
                }
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                other => char::from(other),
            };
            self.lone_high();
            self.push_char(c);
            return false;
        }
        match b {
            b'\\' => self.escape = true,
            b'"' => {
                self.lone_high();
                return true;
            }
            _ => {
                self.lone_high();
                self.push(&[b]);
            }
        }
        false
    }

    /// A UTF-16 code unit from `\uXXXX`: surrogate pairs join; a lone half reads as U+FFFD.
    fn unit(&mut self, unit: u16) {
        match (self.high.take(), unit) {
            (Some(high), 0xdc00..=0xdfff) => {
                let c = 0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(unit) - 0xdc00);
                self.push_char(char::from_u32(c).unwrap_or('\u{fffd}'));
            }
            (high, 0xd800..=0xdbff) => {
                if high.is_some() {
                    self.push_char('\u{fffd}');
                }
                self.high = Some(unit);
            }
            (high, _) => {
                if high.is_some() {
                    self.push_char('\u{fffd}');
                }
                self.push_char(char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'));
            }
        }
    }

    fn lone_high(&mut self) {
        if self.high.take().is_some() {
            self.push_char('\u{fffd}');
        }
    }

    fn push_char(&mut self, c: char) {
        let mut utf8 = [0; 4];
        self.push(c.encode_utf8(&mut utf8).as_bytes());
    }

    fn push(&mut self, bytes: &[u8]) {
        if !self.kept() || self.overflow {
            return;
        }
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(slot) => {
                slot.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }

    fn value(&self) -> Option<&str> {
        if self.overflow {
            return None;
        }
        core::str::from_utf8(&self.buf[..self.len]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    fn scan(message: &[u8]) -> Found {
        let mut s = CommandScan::new();
        s.feed(message);
        s.finish()
    }

    fn found(id: Option<&str>, command: Option<&str>) -> Found {
        Found {
            command_id: id.map(String::from),
            command: command.map(String::from),
        }
    }

    #[test]
    fn reads_both_fields_wherever_they_are() {
        assert_eq!(
            scan(br#"{"commandId":"c1","command":"echo","payload":{"x":1}}"#),
            found(Some("c1"), Some("echo"))
        );
        assert_eq!(
            scan(
                br#" { "payload" : {"commandId":"inner","a":[1,{"command":"no"}],"s":"}\"{"} ,
                   "timeout": 5, "command" : "print", "commandId" : "late" } trailing"#
            ),
            found(Some("late"), Some("print")),
            "nested keys are not the command's"
        );
    }

    #[test]
    fn every_split_of_the_stream_gives_the_same_answer() {
        let message = br#"{"payload":"\"{[","commandId":"\u00e9\ud83d\ude00\n","command":"x"}"#;
        let whole = scan(message);
        assert_eq!(whole, found(Some("é😀\n"), Some("x")));
        for cut in 0..message.len() {
            let mut s = CommandScan::new();
            s.feed(&message[..cut]);
            s.feed(&message[cut..]);
            assert_eq!(s.finish(), whole, "cut at {cut}");
        }
        for bytes in [1, 2, 3] {
            let mut s = CommandScan::new();
            message.chunks(bytes).for_each(|c| s.feed(c));
            assert_eq!(s.finish(), whole);
        }
    }

    #[test]
    fn escapes_decode_like_the_message_parser() {
        let message = format!(
            "{{\"commandId\":{},\"command\":\"a\\/b\\\\\\t\"}}",
            serde_json::to_string("quote \" and 😀 and \u{1}").unwrap()
        );
        assert_eq!(
            scan(message.as_bytes()),
            found(Some("quote \" and 😀 and \u{1}"), Some("a/b\\\t"))
        );
        assert_eq!(
            scan(br#"{"command\u0049d":"escaped key","command":"\ud800"}"#),
            found(Some("escaped key"), Some("\u{fffd}")),
            "a lone surrogate reads as U+FFFD"
        );
        assert_eq!(
            scan(br#"{"commandId":"\ud800\ud83d\ude00x\udc00"}"#),
            found(Some("\u{fffd}😀x\u{fffd}"), None)
        );
    }

    #[test]
    fn unreadable_ids_are_none() {
        let long = "x".repeat(MAX_VALUE + 1);
        let exact = "y".repeat(MAX_VALUE);
        for (message, want) in [
            (
                format!(r#"{{"commandId":"{long}","command":"c"}}"#),
                found(None, Some("c")),
            ),
            (
                format!(r#"{{"commandId":"{exact}"}}"#),
                found(Some(&exact), None),
            ),
            (
                r#"{"commandId":7,"command":["c"]}"#.to_string(),
                found(None, None),
            ),
            (
                r#"{"commandId":"a","commandId":null}"#.to_string(),
                found(None, None),
            ),
            (
                r#"{"commandId":"a","commandId":"b"}"#.to_string(),
                found(Some("b"), None),
            ),
            (r#"["commandId","a"]"#.to_string(), found(None, None)),
            (r#""commandId""#.to_string(), found(None, None)),
            ("not json".to_string(), found(None, None)),
            (r#"{"commandId":"\uzzzz"}"#.to_string(), found(None, None)),
        ] {
            assert_eq!(scan(message.as_bytes()), want, "{message}");
        }
        assert_eq!(
            scan(b"{\"commandId\":\"\xff\"}"),
            found(None, None),
            "not UTF-8"
        );
    }

    /// A xorshift generator of JSON for the comparison with serde_json.
    struct Gen(u64);

    impl Gen {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }

        fn text(&mut self) -> String {
            const PIECES: [&str; 12] = [
                "a", "\\", "\"", "é", "😀", "\n", "\u{1}", "{", "]", ":", ",", " ",
            ];
            (0..self.below(6))
                .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
                .collect()
        }

        fn value(&mut self, depth: u32) -> serde_json::Value {
            use serde_json::Value;
            match self.below(if depth > 3 { 4 } else { 6 }) {
                0 => Value::Null,
                1 => serde_json::json!(self.below(1000) as f64 / 7.0),
                2 | 3 => Value::String(self.text()),
                4 => Value::Array((0..self.below(3)).map(|_| self.value(depth + 1)).collect()),
                _ => Value::Object(self.object(&["commandId", "command", "x"], depth + 1)),
            }
        }

        fn object(
            &mut self,
            keys: &[&str],
            depth: u32,
        ) -> serde_json::Map<String, serde_json::Value> {
            let mut m = serde_json::Map::new();
            for key in keys {
                if self.below(3) > 0 {
                    let v = if key.starts_with("command") && self.below(2) == 0 {
                        serde_json::Value::String(self.text())
                    } else {
                        self.value(depth)
                    };
                    m.insert((*key).into(), v);
                }
            }
            m
        }
    }

    /// Random objects, written by serde_json (compact and pretty), scanned in random pieces:
    /// the scan finds exactly the top-level strings serde_json reads back.
    #[test]
    fn agrees_with_serde_json_on_random_objects() {
        use serde_json::Value;
        let mut g = Gen(0x2545_f491_4f6c_dd1d);
        for case in 0..3000 {
            let object =
                Value::Object(g.object(&["payload", "commandId", "x", "command", "timeout"], 0));
            let message = if case % 2 == 0 {
                serde_json::to_vec(&object).unwrap()
            } else {
                serde_json::to_vec_pretty(&object).unwrap()
            };
            let string = |key: &str| object.get(key).and_then(Value::as_str);
            let want = found(string("commandId"), string("command"));
            let mut s = CommandScan::new();
            let mut rest = &message[..];
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at((1 + g.below(40) as usize).min(rest.len()));
                s.feed(piece);
                rest = tail;
            }
            assert_eq!(s.finish(), want, "{}", String::from_utf8_lossy(&message));
        }
    }

    #[test]
    fn large_and_deep_messages_are_read_through() {
        let mut s = CommandScan::new();
        s.feed(br#"{"commandId":"big","payload":{"rows":["#);
        let row = br#"{"deep":[[[[[[[[[[[["\"]]]"]]]]]]]]]]]]},"#;
        for _ in 0..100_000 {
            s.feed(row);
        }
        s.feed(br#"0]},"command":"print"}"#);
        assert_eq!(s.finish(), found(Some("big"), Some("print")));
        let mut deep = Vec::new();
        deep.extend_from_slice(br#"{"payload":"#);
        deep.extend(core::iter::repeat_n(b'[', 1_000_000));
        deep.extend(core::iter::repeat_n(b']', 1_000_000));
        deep.extend_from_slice(br#","commandId":"d"}"#);
        assert_eq!(scan(&deep), found(Some("d"), None), "nesting costs nothing");
    }
}

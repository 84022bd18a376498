//! A small JSON reader and writer for the chip, where serde_json's reader, its `Value` and
//! its float code were a third of the firmware's flash.
//!
//! [`Value`] and [`Map`] have the shape of serde_json's (the same variants and the methods the
//! core and the generated checks call), so the same source runs over either: the host runtime
//! uses serde_json's (its API hands users `serde_json::Value`), a build without the `serde`
//! feature uses these (see [`crate::value`]). The string writer ([`write_str`]) is shared by
//! both: it writes exactly what serde_json writes.
//!
//! Numbers: integers are exact (`u64` for non-negative, `i64` for negative, like serde_json;
//! beyond those they become floats). Floats are parsed exactly when the digits fit 2^53 and
//! the decimal exponent is within ±22 (the numbers sensors send: one correctly rounded
//! multiplication or division); beyond that the result is within a few ulps. Floats are written
//! with the fewest of 15, 16 or 17 significant digits that parse back to the same `f64`
//! (exact digits for magnitudes from 1e-15 to 2^64, within a few ulps outside), so the values a
//! handler returns survive the trip.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Nesting deeper than this is refused, so the recursive reader cannot exhaust the stack. A
/// command's own object counts as one level: its payload may nest one level less. The host,
/// whose serde_json would go to 128, holds commands to the same limit, so every target
/// answers a deep command alike.
pub const MAX_DEPTH: usize = 64;

/// A JSON value, shaped like `serde_json::Value`.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object.
    Object(Map<String, Value>),
}

/// A JSON number: an integer when it is one, like serde_json's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Number(N);

#[derive(Clone, Copy, Debug, PartialEq)]
enum N {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

impl Number {
    /// A finite float; `None` for NaN and infinities, which JSON cannot hold.
    pub fn from_f64(f: f64) -> Option<Number> {
        f.is_finite().then_some(Number(N::Float(f)))
    }

    /// The value as an `i64`, when it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            N::PosInt(u) => i64::try_from(u).ok(),
            N::NegInt(i) => Some(i),
            N::Float(_) => None,
        }
    }

    /// The value as a `u64`, when it is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            N::PosInt(u) => Some(u),
            _ => None,
        }
    }

    /// The value as an `f64` (always some, as in serde_json).
    pub fn as_f64(&self) -> Option<f64> {
        Some(match self.0 {
            N::PosInt(u) => u as f64,
            N::NegInt(i) => i as f64,
            N::Float(f) => f,
        })
    }

    /// Whether it is an integer that fits an `i64`.
    pub fn is_i64(&self) -> bool {
        self.as_i64().is_some()
    }

    /// Whether it is a non-negative integer.
    pub fn is_u64(&self) -> bool {
        matches!(self.0, N::PosInt(_))
    }

    /// Whether it was written or made as a float.
    pub fn is_f64(&self) -> bool {
        matches!(self.0, N::Float(_))
    }
}

impl From<u64> for Number {
    fn from(u: u64) -> Self {
        Number(N::PosInt(u))
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number(if i < 0 {
            N::NegInt(i)
        } else {
            N::PosInt(i as u64)
        })
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_number(&mut s, self);
        f.write_str(&s)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_string(self))
    }
}

impl Value {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(map) => map.get(key),
            _ => None,
        }
    }

    /// The string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as an `f64`, when it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// The number as an `i64`, when it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The number as a `u64`, when it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The boolean, when it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether it is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    /// Whether it is a non-negative integer.
    pub fn is_u64(&self) -> bool {
        matches!(self, Value::Number(n) if n.is_u64())
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

impl From<u64> for Value {
    fn from(u: u64) -> Self {
        Value::Number(u.into())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Number(i.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

/// An object's members, sorted by key like serde_json's default map (a `BTreeMap`): iteration,
/// the written text and so the first offending key a check reports are the host's. A key
/// inserted twice keeps its last value, as in serde_json. A sorted list, not a tree: objects on
/// a chip have a handful of members, and a list is far less code.
#[derive(Clone, Debug)]
pub struct Map<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for Map<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl Map<String, Value> {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// Whether `key` is present (generic like serde_json's, so the same calls compile).
    pub fn contains_key<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> bool {
        self.get(key.as_ref()).is_some()
    }

    /// Set `key`, returning its previous value.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.find(&key) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Take `key` out.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.find(key).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The members, by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, by key.
    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// Objects are equal when they have the same members (both lists are sorted by key).
impl PartialEq for Map<String, Value> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl IntoIterator for Map<String, Value> {
    type Item = (String, Value);
    type IntoIter = alloc::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map<String, Value> {
    type Item = (&'a String, &'a Value);
    type IntoIter = core::iter::Map<
        core::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a String, &'a Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl FromIterator<(String, Value)> for Map<String, Value> {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut map = Map::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

/// Why a text is not JSON: what was wrong and the byte offset where it was noticed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What was wrong.
    pub what: &'static str,
    /// Byte offset in the input.
    pub at: usize,
}

impl Error {
    /// `<what> at byte <at>` (also what [`Display`](fmt::Display) writes).
    pub fn text(&self) -> String {
        let mut s = String::from(self.what);
        s.push_str(" at byte ");
        write_u64(&mut s, self.at as u64);
        s
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// Parse one JSON value filling all of `bytes` (whitespace around it allowed).
pub fn from_slice(bytes: &[u8]) -> Result<Value, Error> {
    let mut r = Reader::new(bytes, false);
    let value = r.value(0)?;
    r.end()?;
    Ok(value)
}

/// What makes a value legal JSON that no [`Value`] can hold (nor serde_json's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// A number beyond the range of an `f64`, such as `1e400`.
    NumberOutOfRange,
    /// A `\u` escape of one half of a UTF-16 surrogate pair, such as `"\ud800"`: not a
    /// character, so no Rust string holds it.
    LoneSurrogate,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl Unreadable {
    /// What is wrong, as the rest of a sentence naming the value (also what
    /// [`Display`](fmt::Display) writes).
    pub fn text(&self) -> String {
        match self {
            Self::NumberOutOfRange => {
                "is a number beyond the range of a 64-bit float (about ±1.8e308)".into()
            }
            Self::LoneSurrogate => {
                "has a lone UTF-16 surrogate escape (\\ud800-\\udfff), not a character".into()
            }
            Self::TooDeep => {
                let mut s = String::from("nests arrays and objects deeper than a command may (");
                write_u64(&mut s, MAX_DEPTH as u64);
                s.push_str(" levels, the command's own object included)");
                s
            }
        }
    }
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

/// One step of a path into a value: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// An array item.
    Index(usize),
}

/// The first unreadable value in a text and where it is, from the top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The keys and indices leading to it (for [`Unreadable::TooDeep`], to the container
    /// that went past the limit).
    pub path: Vec<Step>,
    /// What it is.
    pub what: Unreadable,
}

/// [`from_slice`] that reads past unreadable values instead of refusing the whole text: each
/// is read as `null` (strings with a lone surrogate as U+FFFD), and the first is reported, so
/// a caller can still read the rest (a command's `commandId`) and say what was wrong, and
/// where. Syntax errors are errors as in [`from_slice`].
pub fn from_slice_lenient(bytes: &[u8]) -> Result<(Value, Option<Fault>), Error> {
    let mut r = Reader::new(bytes, true);
    let value = r.value(0)?;
    r.end()?;
    Ok((value, r.fault))
}

/// [`from_slice`] of a string.
pub fn from_str(text: &str) -> Result<Value, Error> {
    from_slice(text.as_bytes())
}

/// The path to the innermost value of `bytes` (one JSON text) that holds byte offset `at`:
/// where a reader that reports only offsets (serde_json) found something wrong. Empty for the
/// whole value, or when the text is not JSON.
pub fn path_at(bytes: &[u8], at: usize) -> Vec<Step> {
    let mut r = Reader::new(bytes, true);
    r.target = Some((at, None));
    if r.value(0).and_then(|_| r.end()).is_err() {
        return Vec::new();
    }
    r.target.and_then(|(_, path)| path).unwrap_or_default()
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Read unreadable values as `null` and note the first, instead of failing.
    lenient: bool,
    /// Where the value being read is, while lenient: the offset of each enclosing member's
    /// key (decoded only if a fault needs it) or the item's index.
    trail: Vec<Mark>,
    fault: Option<Fault>,
    /// For [`path_at`]: the offset sought, and the path of the innermost value holding it.
    target: Option<(usize, Option<Vec<Step>>)>,
}

#[derive(Clone, Copy)]
enum Mark {
    Key(usize),
    Index(usize),
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], lenient: bool) -> Self {
        Reader {
            bytes,
            pos: 0,
            lenient,
            trail: Vec::new(),
            fault: None,
            target: None,
        }
    }

    fn end(&mut self) -> Result<(), Error> {
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return Err(self.err("trailing characters"));
        }
        Ok(())
    }

    fn err(&self, what: &'static str) -> Error {
        Error { what, at: self.pos }
    }

    /// `what` at the current value: an error, or noted while lenient (`Ok`, to read on).
    fn unreadable(&mut self, what: Unreadable, error: &'static str) -> Result<(), Error> {
        if !self.lenient {
            return Err(self.err(error));
        }
        if self.fault.is_none() {
            self.fault = Some(Fault {
                path: self.path(),
                what,
            });
        }
        Ok(())
    }

    /// Step over an array or object (at its opening bracket) without recursing: strings
    /// are skipped whole, brackets only counted. The text was not read, so an unbalanced
    /// one is an error.
    fn skip_nested(&mut self) -> Result<(), Error> {
        let mut open = 0usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => {
                    while let Some(c) = self.peek() {
                        self.pos += if c == b'\\' { 2 } else { 1 };
                        if c == b'"' {
                            break;
                        }
                    }
                }
                b'[' | b'{' => open += 1,
                b']' | b'}' => {
                    open -= 1;
                    if open == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err(self.err("unexpected end"))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    fn literal(&mut self, word: &'static [u8], value: Value) -> Result<Value, Error> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.err("expected a value"))
        }
    }

    /// The trail as the path it stands for.
    fn path(&self) -> Vec<Step> {
        self.trail
            .iter()
            .map(|mark| match *mark {
                Mark::Index(i) => Step::Index(i),
                Mark::Key(at) => {
                    let mut key = Reader::new(self.bytes, true);
                    key.pos = at;
                    // The key was read once already: it reads again.
                    Step::Key(key.string().unwrap_or_default())
                }
            })
            .collect()
    }

    fn value(&mut self, depth: usize) -> Result<Value, Error> {
        self.skip_ws();
        let start = self.pos;
        let value = self.value_here(depth)?;
        if let Some((at, None)) = self.target {
            if (start..self.pos).contains(&at) {
                self.target = Some((at, Some(self.path())));
            }
        }
        Ok(value)
    }

    fn value_here(&mut self, depth: usize) -> Result<Value, Error> {
        match self.peek() {
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => Ok(self.number()?.map_or(Value::Null, Value::Number)),
            Some(open @ (b'[' | b'{')) => {
                if depth >= MAX_DEPTH {
                    self.unreadable(Unreadable::TooDeep, "nested too deeply")?;
                    self.skip_nested()?;
                    return Ok(Value::Null);
                }
                self.pos += 1;
                let close = if open == b'[' { b']' } else { b'}' };
                let mut items = Vec::new();
                let mut map = Map::new();
                if !self.eat(close) {
                    loop {
                        if open == b'[' {
                            self.trail.push(Mark::Index(items.len()));
                            items.push(self.value(depth + 1)?);
                        } else {
                            self.skip_ws();
                            if self.peek() != Some(b'"') {
                                return Err(self.err("expected a key"));
                            }
                            let at = self.pos;
                            let key = self.string()?;
                            if !self.eat(b':') {
                                return Err(self.err("expected `:`"));
                            }
                            self.trail.push(Mark::Key(at));
                            map.insert(key, self.value(depth + 1)?);
                        }
                        self.trail.pop();
                        if self.eat(close) {
                            break;
                        }
                        if !self.eat(b',') {
                            return Err(self.err("expected `,` or a closing bracket"));
                        }
                    }
                }
                Ok(if open == b'[' {
                    Value::Array(items)
                } else {
                    Value::Object(map)
                })
            }
            None => Err(self.err("unexpected end")),
            Some(_) => Err(self.err("expected a value")),
        }
    }

    /// A string; `pos` is at its opening quote.
    fn string(&mut self) -> Result<String, Error> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.extend_from_slice(&self.bytes[start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.err("invalid UTF-8"));
                }
                Some(b'\\') => {
                    let escape = self.bytes.get(self.pos + 1).copied();
                    self.pos += 2;
                    let c = match escape {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => return Err(self.err("invalid escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                Some(_) => return Err(self.err("control character in string")),
                None => return Err(self.err("unterminated string")),
            }
        }
    }

    /// After `\u`: four hex digits, and a low surrogate's escape after a high one. A lone
    /// surrogate is U+FFFD when lenient; a high one followed by another escape leaves that
    /// escape to be read on its own (it may be the high half of the next pair).
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            let after = self.pos;
            let low = if self.bytes[self.pos..].starts_with(b"\\u") {
                self.pos += 2;
                self.hex4()?
            } else {
                0
            };
            if !(0xDC00..0xE000).contains(&low) {
                self.unreadable(Unreadable::LoneSurrogate, "lone surrogate")?;
                self.pos = after;
                return Ok(char::REPLACEMENT_CHARACTER);
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => {
                self.unreadable(Unreadable::LoneSurrogate, "lone surrogate")?;
                Ok(char::REPLACEMENT_CHARACTER)
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut n = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            n = n * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(n)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number; `None` when it is out of range and the reader is lenient.
    fn number(&mut self) -> Result<Option<Number>, Error> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        self.pos += usize::from(negative);
        let int_start = self.pos;
        let int_len = self.digits();
        if int_len == 0 || (int_len > 1 && self.bytes[int_start] == b'0') {
            return Err(self.err("invalid number"));
        }
        let mut frac = (0, 0);
        if self.peek() == Some(b'.') {
            self.pos += 1;
            frac = (self.pos, self.digits());
            if frac.1 == 0 {
                return Err(self.err("invalid number"));
            }
        }
        let mut exp: i32 = 0;
        let has_exp = matches!(self.peek(), Some(b'e' | b'E'));
        if has_exp {
            self.pos += 1;
            let neg_exp = match self.peek() {
                Some(b'-') => true,
                Some(b'+') => false,
                _ => {
                    self.pos -= 1;
                    false
                }
            };
            self.pos += 1;
            let exp_start = self.pos;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
            for &d in &self.bytes[exp_start..self.pos] {
                // Saturate: anything this large is out of range either way.
                exp = (exp * 10 + i32::from(d - b'0')).min(100_000);
            }
            if neg_exp {
                exp = -exp;
            }
        }
        let int_digits = &self.bytes[int_start..int_start + int_len];
        if frac.1 == 0 && !has_exp {
            if let Some(u) = int_digits.iter().try_fold(0u64, |n, &d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            }) {
                if !negative {
                    return Ok(Some(Number(N::PosInt(u))));
                }
                if u <= i64::MAX as u64 + 1 {
                    return Ok(Some(Number(if u == 0 {
                        N::Float(-0.0)
                    } else {
                        N::NegInt((u as i64).wrapping_neg())
                    })));
                }
            }
        }
        // Up to 19 significant digits in a u64; further ones only move the exponent.
        let mut mantissa = 0u64;
        let mut kept = 0u32;
        let frac_digits = &self.bytes[frac.0..frac.0 + frac.1];
        for (i, &d) in int_digits.iter().chain(frac_digits).enumerate() {
            let in_fraction = i >= int_len;
            if kept < 19 {
                if mantissa != 0 || d != b'0' {
                    kept += 1;
                }
                mantissa = mantissa * 10 + u64::from(d - b'0');
                exp -= i32::from(in_fraction);
            } else {
                exp += i32::from(!in_fraction);
            }
        }
        let f = decimal_to_f64(mantissa, exp);
        if !f.is_finite() {
            let end = core::mem::replace(&mut self.pos, start);
            self.unreadable(Unreadable::NumberOutOfRange, "number out of range")?;
            self.pos = end;
            return Ok(None);
        }
        Ok(Some(Number(N::Float(if negative { -f } else { f }))))
    }
}

/// Exact powers of ten in `f64` (10^22 is the last one).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `mantissa * 10^exp`: one correctly rounded operation when the mantissa fits 2^53 and the
/// exponent ±22, otherwise repeated scaling (within a few ulps; a value within a few ulps of
/// `f64::MAX` may overflow and be refused as out of range).
fn decimal_to_f64(mantissa: u64, exp: i32) -> f64 {
    let mut f = mantissa as f64;
    if mantissa == 0 {
        return 0.0;
    }
    let mut e = exp;
    while e > 22 {
        f *= 1e22;
        e -= 22;
    }
    while e < -22 {
        f /= 1e22;
        e += 22;
        if f == 0.0 {
            return 0.0;
        }
    }
    if e >= 0 {
        f * POW10[e as usize]
    } else {
        f / POW10[(-e) as usize]
    }
}

/// Append `s` as a JSON string, escaped exactly as serde_json escapes it.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The compact JSON text of `value`, members by key (as serde_json writes its `Value`).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Append the compact JSON text of `value`.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    match n.0 {
        N::PosInt(u) => write_u64(out, u),
        N::NegInt(i) => {
            out.push('-');
            write_u64(out, i.unsigned_abs());
        }
        N::Float(f) => write_f64(out, f),
    }
}

/// Append the decimal digits of `n`.
pub fn write_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

/// Append a finite float (NaN and infinities, which JSON cannot hold, as `null`, like
/// serde_json): whole numbers as `20.0`, others with the fewest of 15, 16 or 17 significant
/// digits that read back to the same `f64`, positional from 1e-5 to 1e16, else with an
/// exponent.
pub fn write_f64(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    let f = f.abs();
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (mut digits, mut exp) = digits17(f);
    // Shorter forms first: the one-operation parse is exact for them, so "reads back" holds.
    for drop in [2u32, 1] {
        let scale = 10u64.pow(drop);
        let shorter = (digits + scale / 2) / scale;
        let e = exp + drop as i32;
        let exact = (-22..=22).contains(&e) && shorter <= 1 << 53;
        if exact && decimal_to_f64(shorter, e) == f {
            digits = shorter;
            exp = e;
            break;
        }
    }
    while digits % 10 == 0 {
        digits /= 10;
        exp += 1;
    }
    let mut text = String::new();
    write_u64(&mut text, digits);
    let len = text.len() as i32;
    // The value is 0.<text> * 10^point.
    let point = len + exp;
    if (-4..=16).contains(&point) {
        if point <= 0 {
            out.push_str("0.");
            for _ in point..0 {
                out.push('0');
            }
            out.push_str(&text);
        } else if point >= len {
            out.push_str(&text);
            for _ in len..point {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&text[..point as usize]);
            out.push('.');
            out.push_str(&text[point as usize..]);
        }
    } else {
        out.push_str(&text[..1]);
        if len > 1 {
            out.push('.');
            out.push_str(&text[1..]);
        }
        out.push('e');
        let e = point - 1;
        if e < 0 {
            out.push('-');
        }
        write_u64(out, u64::from(e.unsigned_abs()));
    }
}

/// 17 significant digits of a positive finite `f`, as `(digits, exp)` with
/// `f ≈ digits * 10^exp` and `digits` in `[10^16, 10^17)`. Exact (correctly rounded) while the
/// arithmetic fits a `u128`: `f` from about 1e-15 to 2^64; scaled in `f64` outside.
fn digits17(f: f64) -> (u64, i32) {
    let bits = f.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (m, e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    // f = m * 2^e.
    if e >= 0 {
        // A whole number: exact below 2^64.
        let Some(whole) = (e < 12).then(|| m << e) else {
            return scaled17(f);
        };
        let mut drop = 0;
        while whole / 10u64.pow(drop) >= 100_000_000_000_000_000 {
            drop += 1;
        }
        let scale = 10u64.pow(drop);
        let n = whole / scale + u64::from(whole % scale >= scale.div_ceil(2));
        return (n, drop as i32);
    }
    // f * 10^k = m * 5^k * 2^(k + e); choose k so that it lies in [10^16, 10^17).
    let log2 = (64 - m.leading_zeros()) as i32 + e;
    let mut k = 16 - (log2 * 30103).div_euclid(100_000);
    for _ in 0..3 {
        let Some(n) = exact_scaled(m, e, k) else {
            return scaled17(f);
        };
        if n < 10_000_000_000_000_000 {
            k += 1;
        } else if n >= 100_000_000_000_000_000 {
            k -= 1;
        } else {
            return (n, -k);
        }
    }
    scaled17(f)
}

/// `m * 2^e * 10^k` rounded to a whole number, for `e < 0`, when it fits the arithmetic:
/// `m * 5^k` within 128 bits, shifted (bits shifted out at the top are lost, as a `u128`
/// loses them) and rounded, and the result within 64.
///
/// In 32-bit limbs, a multiply by 5 and a one-bit shift at a time: the Cortex-M0+ has no
/// 64-bit multiply, and 128-bit `checked_mul`, `checked_pow` and shifts inlined there cost
/// 1 KiB of flash. The loops' few hundred steps do not matter to a JSON writer.
fn exact_scaled(m: u64, e: i32, k: i32) -> Option<u64> {
    if !(0..=38).contains(&k) {
        return None;
    }
    let mut limbs = [m as u32, (m >> 32) as u32, 0, 0];
    for _ in 0..k {
        let mut carry = 0;
        for limb in &mut limbs {
            let x = u64::from(*limb) * 5 + carry;
            *limb = x as u32;
            carry = x >> 32;
        }
        if carry != 0 {
            return None;
        }
    }
    let shift = -(k + e);
    if shift >= 128 {
        return Some(0);
    }
    if shift <= 0 {
        if shift <= -128 {
            return None;
        }
        for _ in shift..0 {
            let mut carry = 0;
            for limb in &mut limbs {
                let top = *limb >> 31;
                *limb = *limb << 1 | carry;
                carry = top;
            }
        }
    } else {
        // Down to the last bit shifted out, which rounds the rest half up.
        for i in 0..shift {
            let last = limbs[0] & 1;
            let mut carry = 0;
            for limb in limbs.iter_mut().rev() {
                let bottom = *limb & 1;
                *limb = *limb >> 1 | carry << 31;
                carry = bottom;
            }
            if i == shift - 1 {
                let mut carry = u64::from(last);
                for limb in &mut limbs {
                    let x = u64::from(*limb) + carry;
                    *limb = x as u32;
                    carry = x >> 32;
                }
            }
        }
    }
    match limbs {
        [low, high, 0, 0] => Some(u64::from(high) << 32 | u64::from(low)),
        _ => None,
    }
}

/// [`digits17`] by scaling in `f64`, at most 22 decimal places per (rounded) step: within a
/// few ulps.
fn scaled17(mut f: f64) -> (u64, i32) {
    let mut exp = 0;
    for _ in 0..40 {
        if (1e16..1e17).contains(&f) {
            break;
        }
        let log2 = ((f.to_bits() >> 52) & 0x7ff) as i32 - 1023;
        let step = ((log2 * 30103).div_euclid(100_000) - 16).clamp(-22, 22);
        let step = if step == 0 {
            if f < 1e16 {
                -1
            } else {
                1
            }
        } else {
            step
        };
        if step > 0 {
            f /= POW10[step as usize];
        } else {
            f *= POW10[(-step) as usize];
        }
        exp += step;
    }
    // From 1e16 (> 2^53) on every f64 is a whole number: no rounding left to do (and no
    // float addition, which would link `__adddf3` into the chip).
    let n = f as u64;
    (n.clamp(10_000_000_000_000_000, 99_999_999_999_999_999), exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64).abs_diff(b.to_bits() as i64)
    }

    #[test]
    fn long_numbers_read_within_an_ulp() {
        for t in [
            "123456789012345678901234567890",
            "1.00000000000000000000001e300",
            "9.999999999999999999e-300",
        ] {
            let theirs: f64 = serde_json::from_str(t).unwrap();
            assert!(
                ulps(from_str(t).unwrap().as_f64().unwrap(), theirs) <= 4,
                "{t}"
            );
        }
    }

    /// `f` as this module writes it, which serde_json must read back exactly where the
    /// writer promises it (about 1e-15 to 2^64), within a few ulps elsewhere.
    fn written_and_read_by_serde(f: f64) -> String {
        let t = text(&Value::from(f));
        let theirs: f64 = serde_json::from_str(&t).unwrap();
        let exact = (1e-15..1.8e19).contains(&f.abs());
        assert!(
            ulps(theirs, f) <= if exact { 0 } else { 8 },
            "{f:e} written as {t}"
        );
        t
    }

    fn text(v: &Value) -> String {
        to_string(v)
    }

    /// The same JSON value as serde_json reads it (object members in any order).
    fn same_as_serde(text: &str) {
        let ours = from_str(text);
        let theirs: Result<serde_json::Value, _> = serde_json::from_str(text);
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => {
                let back: serde_json::Value = serde_json::from_str(&to_string(&ours)).unwrap();
                assert_eq!(back, theirs, "{text}");
            }
            (Err(_), Err(_)) => {}
            (ours, theirs) => panic!("{text:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for t in [
            "null",
            "true",
            " false ",
            "0",
            "-0",
            "1",
            "-1",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.5",
            "-2.25e3",
            "1E2",
            "1e-7",
            "0.1",
            "\"\"",
            r#""a\"b\\c\/d\b\f\n\r\t""#,
            r#""\u00e9\u20ac\ud83d\ude00""#,
            "\"h\u{e9}llo \u{1F600}\"",
            "[]",
            "[1,[2,[3]],{}]",
            r#"{"a":1,"b":{"c":[true,null]},"a":2}"#,
            " { \"k\" : [ 1 , 2 ] } ",
        ] {
            same_as_serde(t);
        }
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        for t in [
            "",
            " ",
            "nul",
            "tru",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "-",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "\"\\udc00\"",
            "\"a\nb\"",
            "1 2",
            "1e400",
            "{\"a\":1}x",
        ] {
            assert!(from_str(t).is_err(), "{t:?} should be rejected");
            same_as_serde(t);
        }
        assert!(from_slice(b"\"\xff\"").is_err());
    }

    #[test]
    fn nesting_is_limited_and_never_overflows() {
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(from_str(&deep).is_ok());
        let deeper = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(from_str(&deeper).unwrap_err().what, "nested too deeply");
        assert!(from_str(&"{\"a\":".repeat(100_000)).is_err());
    }

    /// Legal JSON no `Value` holds: refused whole by the strict reader, read past by the
    /// lenient one, which names the first and where it is.
    #[test]
    fn unreadable_values_are_found_and_read_past() {
        let key = |k: &str| Step::Key(k.into());
        let long = "[".to_string() + &"9".repeat(400) + "]";
        for (text, path, what, read) in [
            (
                r#"{"a":[1,{"b":1e400}],"c":"x"}"#,
                vec![key("a"), Step::Index(1), key("b")],
                Unreadable::NumberOutOfRange,
                r#"{"a":[1,{"b":null}],"c":"x"}"#,
            ),
            (
                "[-1e400, 2]",
                vec![Step::Index(0)],
                Unreadable::NumberOutOfRange,
                "[null,2]",
            ),
            (
                long.as_str(),
                vec![Step::Index(0)],
                Unreadable::NumberOutOfRange,
                "[null]",
            ),
            (
                r#"{"s":"a\ud800b","t":"\udc00"}"#,
                vec![key("s")],
                Unreadable::LoneSurrogate,
                "{\"s\":\"a\u{fffd}b\",\"t\":\"\u{fffd}\"}",
            ),
            // A high half before another escape leaves that escape to be read: here a pair.
            (
                r#"["\ud800\ud83d\ude00"]"#,
                vec![Step::Index(0)],
                Unreadable::LoneSurrogate,
                "[\"\u{fffd}\u{1F600}\"]",
            ),
            (
                r#"{"\ud800":1e999}"#,
                vec![],
                Unreadable::LoneSurrogate,
                "{\"\u{fffd}\":null}",
            ),
        ] {
            assert!(from_str(text).is_err(), "{text}");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
            let (value, fault) = from_slice_lenient(text.as_bytes()).unwrap();
            assert_eq!(fault, Some(Fault { path, what }), "{text}");
            assert_eq!(to_string(&value), read, "{text}");
        }
        // Nothing unreadable: the same value as the strict reader, no fault.
        let text = r#"{"a":[1.5,"\ud83d\ude00",{"b":null}]}"#;
        assert_eq!(
            from_slice_lenient(text.as_bytes()).unwrap(),
            (from_str(text).unwrap(), None)
        );
        // Syntax errors stay errors.
        for text in ["[1e400,", r#"{"a":"\ud800"#, "[[1]", r#"{"a":1e400}x"#] {
            assert!(from_slice_lenient(text.as_bytes()).is_err(), "{text}");
        }
    }

    #[test]
    fn offsets_name_the_innermost_value() {
        let text = br#"{"a":[10,{"b":"xyz"}],"c":{}}"#;
        let at = |needle: &str| {
            let i = text
                .windows(needle.len())
                .position(|w| w == needle.as_bytes());
            path_at(text, i.unwrap())
        };
        let key = |k: &str| Step::Key(k.into());
        assert_eq!(at("10"), [key("a"), Step::Index(0)]);
        assert_eq!(at("yz"), [key("a"), Step::Index(1), key("b")]);
        assert_eq!(at("{\"b"), [key("a"), Step::Index(1)]);
        assert_eq!(at("{}"), [key("c")]);
        assert_eq!(at(r#"{"a""#), []);
        assert_eq!(path_at(b"[1,", 1), []);
    }

    #[test]
    fn too_deep_is_skipped_without_recursing() {
        // Brackets inside a string past the limit are not counted.
        let deep = |n: usize| "[".repeat(n) + r#""]]\"[{""# + &"]".repeat(n);
        let (value, fault) = from_slice_lenient(deep(MAX_DEPTH).as_bytes()).unwrap();
        assert_eq!((fault, value.is_null()), (None, false));
        let text = format!(r#"{{"id":"c","p":{}}}"#, deep(MAX_DEPTH));
        let (value, fault) = from_slice_lenient(text.as_bytes()).unwrap();
        let fault = fault.unwrap();
        assert_eq!(fault.what, Unreadable::TooDeep);
        assert_eq!(fault.path.len(), MAX_DEPTH);
        assert_eq!(fault.path[0], Step::Key("p".into()));
        assert_eq!(value.get("id").and_then(Value::as_str), Some("c"));
        // A million levels: no recursion past the limit, so no stack to run out of.
        let huge = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
        let (_, fault) = from_slice_lenient(huge.as_bytes()).unwrap();
        assert_eq!(fault.unwrap().what, Unreadable::TooDeep);
        // Unbalanced past the limit is still not JSON.
        assert!(from_slice_lenient(("[".repeat(100) + "]").as_bytes()).is_err());
        assert_eq!(
            Unreadable::TooDeep.to_string(),
            "nests arrays and objects deeper than a command may (64 levels, the command's own \
             object included)"
        );
    }

    #[test]
    fn strings_are_escaped_like_serde_json() {
        let all: String = (0u32..0x80).filter_map(char::from_u32).collect::<String>() + "é€😀";
        for s in [all.as_str(), "", "plain", "a\"b", "\u{7f}\u{1f}"] {
            let mut ours = String::new();
            write_str(&mut ours, s);
            assert_eq!(ours, serde_json::to_string(s).unwrap());
            assert_eq!(from_str(&ours).unwrap(), Value::String(s.into()));
        }
    }

    #[test]
    fn integers_are_exact() {
        for n in [0u64, 1, 9, 10, 99, 12345, u64::MAX] {
            assert_eq!(text(&Value::from(n)), n.to_string());
            assert_eq!(from_str(&n.to_string()).unwrap().as_u64(), Some(n));
        }
        for n in [-1i64, -10, i64::MIN] {
            assert_eq!(text(&Value::from(n)), n.to_string());
            assert_eq!(from_str(&n.to_string()).unwrap().as_i64(), Some(n));
        }
    }

    #[test]
    fn floats_round_trip() {
        for f in [
            0.1,
            0.2,
            0.3,
            1.5,
            21.5,
            -3.75,
            23.4,
            100.0,
            1e-5,
            1.23456789e-3,
            123456.789,
            0.30000000000000004,
            core::f64::consts::PI,
            1.0 / 3.0,
            9007199254740993.0,
            1e15,
            1e16,
            1e17,
            1e21,
            1e22,
            1e100,
            1e-100,
            5e-324,
            1.7e308,
            f64::MIN_POSITIVE,
        ] {
            for f in [f, -f] {
                let t = written_and_read_by_serde(f);
                let ours = from_str(&t).unwrap().as_f64().unwrap();
                assert!(
                    ulps(ours, f) <= 4,
                    "{f:e} written as {t} read back as {ours:e}"
                );
            }
        }
        assert_eq!(text(&Value::from(0.1)), "0.1");
        assert_eq!(text(&Value::from(21.5)), "21.5");
        assert_eq!(text(&Value::from(-20.0)), "-20.0");
        assert_eq!(text(&Value::from(0.0)), "0.0");
        assert_eq!(text(&Value::from(1e-7)), "1e-7");
        assert_eq!(text(&Value::from(f64::NAN)), "null");
    }

    /// Every float in the fast-path range reads exactly as serde_json reads it, and everything
    /// this writes reads back the same, by serde_json exactly.
    #[test]
    fn pseudo_random_floats() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            if !f.is_finite() {
                continue;
            }
            written_and_read_by_serde(f);
            // Sensor-like values: exactly.
            let g = (x % 2_000_000) as f64 / if x & 1 == 0 { 100.0 } else { -1000.0 };
            let t = text(&Value::from(g));
            assert_eq!(serde_json::from_str::<f64>(&t).unwrap(), g, "{t}");
            assert_eq!(from_str(&t).unwrap().as_f64(), Some(g), "{t}");
            assert!(t.len() <= 10, "{g} written as {t}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 1u64;
        let alphabet = b"{}[]\",:\\u0123456789abcdefe.-+ tnrl\x00\xff";
        for len in 0..40 {
            for _ in 0..500 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let ours = from_slice(&bytes);
                let theirs: Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
                assert_eq!(
                    ours.is_ok(),
                    theirs.is_ok(),
                    "{:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }

    #[test]
    fn maps_are_sorted_and_keep_the_last_duplicate() {
        let v = from_str(r#"{"b":1,"a":2,"b":3}"#).unwrap();
        assert_eq!(text(&v), r#"{"a":2,"b":3}"#);
        // What serde_json writes without `preserve_order` (as on a device): keys sorted at
        // every level.
        assert_eq!(
            text(&from_str(r#"{"zeta":[1,{"y":1,"x":2}],"alpha":"\u00e9","mid":null}"#).unwrap()),
            "{\"alpha\":\"\u{e9}\",\"mid\":null,\"zeta\":[1,{\"x\":2,\"y\":1}]}"
        );
        let Value::Object(mut map) = v else { panic!() };
        assert_eq!(map.remove("b"), Some(Value::from(3u64)));
        assert_eq!(map.len(), 1);
        assert_eq!(
            vec![Value::Null, Value::Bool(true)],
            match from_str("[null,true]").unwrap() {
                Value::Array(a) => a,
                _ => panic!(),
            }
        );
    }
}

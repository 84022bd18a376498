//! A string matching a JSON Schema `pattern`, built from the pattern itself: each atom's
//! first choice, each quantifier's minimum (one for `+`), the first alternative. Patterns
//! with lookaround or backreferences are refused rather than guessed at; the caller checks
//! the result against the schema anyway.

use anyhow::{bail, Result};

/// A string the ECMA-262 `pattern` matches (anchors are honoured by matching the whole).
pub fn matching(pattern: &str) -> Result<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut parser = Parser { chars, at: 0 };
    let out = parser.alternation()?;
    if parser.at < parser.chars.len() {
        bail!("unbalanced `)` at {}", parser.at);
    }
    Ok(out)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.at += 1;
        c
    }

    /// `a|b|c`: the first alternative; the others are parsed and dropped.
    fn alternation(&mut self) -> Result<String> {
        let first = self.sequence()?;
        while self.peek() == Some('|') {
            self.at += 1;
            self.sequence()?;
        }
        Ok(first)
    }

    fn sequence(&mut self) -> Result<String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let count = self.quantifier()?;
            for _ in 0..count {
                out.push_str(&atom);
            }
        }
        Ok(out)
    }

    fn atom(&mut self) -> Result<String> {
        let Some(c) = self.next() else {
            bail!("pattern ends inside an atom");
        };
        Ok(match c {
            '^' | '$' => String::new(),
            '.' => "a".into(),
            '(' => {
                if self.peek() == Some('?') {
                    self.at += 1;
                    match self.next() {
                        Some(':') => {}
                        Some('<') if !matches!(self.peek(), Some('=') | Some('!')) => {
                            // A named group: skip the name.
                            while self.next().is_some_and(|c| c != '>') {}
                        }
                        _ => bail!("lookaround groups are not supported"),
                    }
                }
                let inner = self.alternation()?;
                if self.next() != Some(')') {
                    bail!("unclosed group");
                }
                inner
            }
            '[' => self.class()?.to_string(),
            '\\' => self.escape()?.to_string(),
            '*' | '+' | '?' | '{' => bail!("quantifier `{c}` without an atom"),
            other => other.to_string(),
        })
    }

    fn escape(&mut self) -> Result<char> {
        Ok(match self.next() {
            Some('d') => '0',
            Some('w') | Some('D') | Some('S') => 'a',
            Some('W') => '-',
            Some('s') => ' ',
            Some('t') => '\t',
            Some('n') => '\n',
            Some(c) if c.is_ascii_digit() => bail!("backreferences are not supported"),
            Some('b') | Some('B') => bail!("word boundaries are not supported"),
            Some('u') | Some('x') | Some('p') | Some('P') => {
                bail!("unicode and hex escapes are not supported")
            }
            Some(c) => c,
            None => bail!("pattern ends with `\\`"),
        })
    }

    /// `[...]`: its first member, or for `[^...]` the first of a few candidates it excludes.
    fn class(&mut self) -> Result<char> {
        let negated = self.peek() == Some('^');
        if negated {
            self.at += 1;
        }
        let mut members: Vec<(char, char)> = Vec::new();
        let mut first = true;
        loop {
            let c = match self.next() {
                None => bail!("unclosed character class"),
                Some(']') if !first => break,
                Some('\\') => match self.peek() {
                    Some('d') => {
                        self.at += 1;
                        members.push(('0', '9'));
                        first = false;
                        continue;
                    }
                    Some('w') => {
                        self.at += 1;
                        members.extend([('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')]);
                        first = false;
                        continue;
                    }
                    Some('s') => {
                        self.at += 1;
                        members.push((' ', ' '));
                        first = false;
                        continue;
                    }
                    _ => self.escape()?,
                },
                Some(c) => c,
            };
            first = false;
            let range =
                self.peek() == Some('-') && self.chars.get(self.at + 1).is_some_and(|n| *n != ']');
            if range {
                self.at += 1;
                let end = match self.next() {
                    Some('\\') => self.escape()?,
                    Some(e) => e,
                    None => bail!("unclosed character class"),
                };
                members.push((c, end));
            } else {
                members.push((c, c));
            }
        }
        if !negated {
            return members
                .first()
                .map(|(lo, _)| *lo)
                .ok_or_else(|| anyhow::anyhow!("empty character class"));
        }
        let excluded = |c: char| members.iter().any(|(lo, hi)| *lo <= c && c <= *hi);
        ['a', 'A', '0', 'z', '_', '-', ' ', 'x', '.']
            .into_iter()
            .find(|c| !excluded(*c))
            .ok_or_else(|| anyhow::anyhow!("negated class excludes every candidate"))
    }

    /// How many times to repeat the atom just read.
    fn quantifier(&mut self) -> Result<usize> {
        let count = match self.peek() {
            Some('*') | Some('?') => {
                self.at += 1;
                0
            }
            Some('+') => {
                self.at += 1;
                1
            }
            Some('{') => {
                let close = self.chars[self.at..]
                    .iter()
                    .position(|c| *c == '}')
                    .map(|p| self.at + p);
                let Some(close) = close else {
                    bail!("unclosed `{{`");
                };
                let body: String = self.chars[self.at + 1..close].iter().collect();
                let min = body.split(',').next().unwrap_or_default().trim();
                let Ok(min) = min.parse::<usize>() else {
                    bail!("quantifier {{{body}}}");
                };
                self.at = close + 1;
                min
            }
            _ => return Ok(1),
        };
        // Lazy quantifiers (`+?`) match the same strings.
        if self.peek() == Some('?') {
            self.at += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::matching;

    #[test]
    fn manifest_patterns_get_a_matching_string() {
        for (pattern, want) in [
            ("^[A-Z0-9]{8,20}$", "AAAAAAAA"),
            ("^[A-Z0-9 -]{3,10}$", "AAA"),
            ("^[a-z0-9]+(-[a-z0-9]+)*$", "a"),
            (r"^\d{3}-\d{4}$", "000-0000"),
            ("^(on|off)$", "on"),
            ("^[^0-9]+x?$", "a"),
            (r"^v\.\d+$", "v.0"),
        ] {
            assert_eq!(matching(pattern).unwrap(), want, "{pattern}");
        }
    }

    #[test]
    fn lookaround_and_backreferences_are_refused() {
        assert!(matching("^(?=a)a$").is_err());
        assert!(matching(r"^(a)\1$").is_err());
        assert!(matching("^(a$").is_err());
    }
}

//! An upload's media type and extension, from the part's content type and filename, and the
//! file id built from them.

/// Well-known types, both ways: the extension a type gets when the filename has none, and the
/// type a filename gets when the part has none.
const KNOWN: &[(&str, &str)] = &[
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("image/svg+xml", "svg"),
    ("image/bmp", "bmp"),
    ("image/x-portable-pixmap", "ppm"),
    ("application/pdf", "pdf"),
    ("application/json", "json"),
    ("application/zip", "zip"),
    ("text/plain", "txt"),
    ("text/csv", "csv"),
    ("text/html", "html"),
    ("audio/mpeg", "mp3"),
    ("audio/wav", "wav"),
    ("video/mp4", "mp4"),
    ("video/webm", "webm"),
    ("application/octet-stream", "bin"),
];

const OCTET_STREAM: &str = "application/octet-stream";

/// What a stored file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileType {
    /// `type/subtype`, lowercase, without parameters.
    pub media_type: String,
    /// Lowercase letters and digits, without the dot.
    pub extension: String,
}

impl FileType {
    /// The part's content type when it has one, else the filename's known extension; the
    /// filename's extension when it is plain (letters and digits, at most 10), else the media
    /// type's known one, else `bin`.
    pub fn of(content_type: Option<&mime::Mime>, filename: Option<&str>) -> Self {
        let from_name = filename
            .and_then(|name| name.rsplit_once('.'))
            .map(|(_, ext)| ext.to_ascii_lowercase())
            .filter(|ext| {
                (1..=10).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        let media_type = content_type
            .map(|m| m.essence_str().to_ascii_lowercase())
            .or_else(|| {
                let ext = from_name.as_deref()?;
                KNOWN
                    .iter()
                    .find(|(_, e)| *e == ext || (ext == "jpeg" && *e == "jpg"))
                    .map(|(t, _)| t.to_string())
            })
            .unwrap_or_else(|| OCTET_STREAM.to_string());
        let extension = from_name.unwrap_or_else(|| {
            KNOWN
                .iter()
                .find(|(t, _)| *t == media_type)
                .map_or("bin", |(_, e)| e)
                .to_string()
        });
        Self {
            media_type,
            extension,
        }
    }

    /// A new file id: 128 random bits in hex, then the extension (`3f…9c.png`), like the
    /// hosted CDN's ids an unguessable public name.
    pub fn new_id(&self) -> std::io::Result<String> {
        Ok(format!(
            "{}.{}",
            super::store::random_hex(16)?,
            self.extension
        ))
    }
}

/// Whether `id` could be an id [`FileType::new_id`] made (checked before any look-up).
pub fn is_file_id(id: &str) -> bool {
    match id.split_once('.') {
        Some((hex, ext)) => {
            hex.len() == 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
                && (1..=10).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ct: Option<&str>, name: Option<&str>) -> (String, String) {
        let ct = ct.map(|c| c.parse::<mime::Mime>().unwrap());
        let t = FileType::of(ct.as_ref(), name);
        (t.media_type, t.extension)
    }

    #[test]
    fn type_and_extension_fill_each_other_in() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            of(Some("image/png"), Some("shot.PNG")),
            pair("image/png", "png")
        );
        assert_eq!(of(Some("image/jpeg"), None), pair("image/jpeg", "jpg"));
        assert_eq!(of(None, Some("a.jpeg")), pair("image/jpeg", "jpeg"));
        assert_eq!(
            of(Some("text/plain; charset=utf-8"), Some("notes")),
            pair("text/plain", "txt")
        );
        assert_eq!(of(None, Some("../../etc/x.t@r")), pair(OCTET_STREAM, "bin"));
        assert_eq!(
            of(Some("x-custom/thing"), None),
            pair("x-custom/thing", "bin")
        );
    }

    #[test]
    fn ids_are_random_hex_and_the_extension() {
        let t = FileType::of(None, Some("a.png"));
        let (a, b) = (t.new_id().unwrap(), t.new_id().unwrap());
        assert_ne!(a, b);
        assert!(a.ends_with(".png") && is_file_id(&a), "{a}");
        for bad in ["", "x.png", "../etc/passwd", &a[..32], "upload"] {
            assert!(!is_file_id(bad), "{bad}");
        }
    }
}

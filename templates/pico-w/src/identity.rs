//! This unit's name when `LUA_DEVICE_NAME` has a `{uid}`: made once at boot from the flash
//! chip's unique id, so one firmware image flashed onto many boards gives as many devices
//! (each its own topics, client id and registration).

use alloc::string::String;

/// `template` with `{uid}` replaced by `uid` in lower-case hex (two digits a byte). build.rs
/// checked the template with as many digits, so the result is a valid device name.
pub fn unit_name(template: &str, uid: &[u8]) -> String {
    let mut hex = String::with_capacity(uid.len() * 2);
    for byte in uid {
        for digit in [byte >> 4, byte & 0xf] {
            hex.push(char::from_digit(u32::from(digit), 16).unwrap_or('0'));
        }
    }
    template.replace("{uid}", &hex)
}

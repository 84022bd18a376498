//! ELF to UF2, so a build can be dragged onto the Pico's BOOTSEL drive without elf2uf2-rs.
//!
//! UF2 (<https://github.com/microsoft/uf2>): 512-byte blocks, each carrying 256 bytes of flash at
//! a 256-aligned address, tagged with the chip's family id (both from [`crate::board::Chip`]).

use crate::board::Chip;

const MAGIC_START0: u32 = 0x0A32_4655;
const MAGIC_START1: u32 = 0x9E5D_5157;
const MAGIC_END: u32 = 0x0AB1_6F30;
const FLAG_FAMILY_ID: u32 = 0x0000_2000;
const PAYLOAD: u32 = 256;

/// One loadable piece of an ELF: its load (physical) address and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub address: u32,
    pub data: Vec<u8>,
}

/// The PT_LOAD segments with file contents of a 32-bit little-endian ELF, at their load
/// addresses (so `.data` lands in flash where the startup code copies it from).
pub fn load_segments(elf: &[u8]) -> Result<Vec<Segment>, String> {
    let u16_at = |at: usize| -> Result<u16, String> {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .ok_or_else(|| "ELF truncated".to_string())
    };
    let u32_at = |at: usize| -> Result<u32, String> {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "ELF truncated".to_string())
    };
    if elf.get(..6) != Some(b"\x7fELF\x01\x01") {
        return Err("not a 32-bit little-endian ELF".into());
    }
    let phoff = u32_at(28)? as usize;
    let phentsize = usize::from(u16_at(42)?);
    let phnum = usize::from(u16_at(44)?);
    let mut segments = Vec::new();
    for i in 0..phnum {
        let h = phoff + i * phentsize;
        const PT_LOAD: u32 = 1;
        if u32_at(h)? != PT_LOAD {
            continue;
        }
        let offset = u32_at(h + 4)? as usize;
        let paddr = u32_at(h + 12)?;
        let filesz = u32_at(h + 16)? as usize;
        if filesz == 0 {
            continue;
        }
        let data = elf
            .get(offset..offset + filesz)
            .ok_or("ELF segment outside the file")?
            .to_vec();
        segments.push(Segment {
            address: paddr,
            data,
        });
    }
    Ok(segments)
}

/// The UF2 image of the flash contents of `elf`, for `chip`.
pub fn elf_to_uf2(elf: &[u8], chip: &Chip) -> Result<Vec<u8>, String> {
    let family_id = chip.uf2_family;
    let mut pages: std::collections::BTreeMap<u32, [u8; PAYLOAD as usize]> = Default::default();
    for segment in load_segments(elf)? {
        if !chip.flash_window.contains(&segment.address) {
            continue;
        }
        for (i, byte) in segment.data.iter().enumerate() {
            let address = segment.address + i as u32;
            let page = pages
                .entry(address & !(PAYLOAD - 1))
                .or_insert([0; PAYLOAD as usize]);
            page[(address % PAYLOAD) as usize] = *byte;
        }
    }
    if pages.is_empty() {
        return Err("the ELF has nothing to load into flash".into());
    }
    let count = pages.len() as u32;
    let mut out = Vec::with_capacity(pages.len() * 512);
    for (n, (address, data)) in pages.iter().enumerate() {
        for word in [
            MAGIC_START0,
            MAGIC_START1,
            FLAG_FAMILY_ID,
            *address,
            PAYLOAD,
            n as u32,
            count,
            family_id,
        ] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(data);
        out.resize(out.len() + 476 - PAYLOAD as usize, 0);
        out.extend_from_slice(&MAGIC_END.to_le_bytes());
    }
    Ok(out)
}

/// One parsed UF2 block, for checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub address: u32,
    pub number: u32,
    pub count: u32,
    pub family_id: u32,
}

/// Parse and check a UF2 file: magics, flags, sizes and numbering.
pub fn parse(uf2: &[u8]) -> Result<Vec<Block>, String> {
    if !uf2.len().is_multiple_of(512) {
        return Err("UF2 length is not a multiple of 512".into());
    }
    let word = |b: &[u8], i: usize| {
        u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]])
    };
    let mut blocks = Vec::new();
    for (n, b) in uf2.chunks(512).enumerate() {
        if word(b, 0) != MAGIC_START0 || word(b, 1) != MAGIC_START1 || word(b, 127) != MAGIC_END {
            return Err(format!("block {n}: bad magic"));
        }
        if word(b, 2) & FLAG_FAMILY_ID == 0 || word(b, 4) != PAYLOAD || word(b, 5) != n as u32 {
            return Err(format!("block {n}: bad flags, size or number"));
        }
        blocks.push(Block {
            address: word(b, 3),
            number: word(b, 5),
            count: word(b, 6),
            family_id: word(b, 7),
        });
    }
    if blocks.iter().any(|b| b.count != blocks.len() as u32) {
        return Err("block count does not match the number of blocks".into());
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::RP2040;

    /// A minimal ELF with one PT_LOAD segment of `data` at `paddr`.
    fn elf(paddr: u32, data: &[u8]) -> Vec<u8> {
        let mut e = vec![0u8; 52 + 32];
        e[..6].copy_from_slice(b"\x7fELF\x01\x01");
        e[28..32].copy_from_slice(&52u32.to_le_bytes());
        e[42..44].copy_from_slice(&32u16.to_le_bytes());
        e[44..46].copy_from_slice(&1u16.to_le_bytes());
        let h = 52;
        e[h..h + 4].copy_from_slice(&1u32.to_le_bytes());
        e[h + 4..h + 8].copy_from_slice(&84u32.to_le_bytes());
        e[h + 12..h + 16].copy_from_slice(&paddr.to_le_bytes());
        e[h + 16..h + 20].copy_from_slice(&(data.len() as u32).to_le_bytes());
        e.extend_from_slice(data);
        e
    }

    #[test]
    fn pages_are_256_aligned_and_numbered() {
        let data: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        let uf2 = elf_to_uf2(&elf(0x1000_0080, &data), &RP2040).unwrap();
        let blocks = parse(&uf2).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].address, 0x1000_0000);
        assert_eq!(blocks[1].address, 0x1000_0100);
        assert!(blocks
            .iter()
            .all(|b| b.family_id == 0xe48b_ff56 && b.count == 2));
        assert_eq!(uf2[32 + 0x80], 0, "first byte of the segment");
        assert_eq!(uf2[32 + 0x81], 1);
    }

    #[test]
    fn ram_only_and_bad_input_are_errors() {
        assert!(elf_to_uf2(&elf(0x2000_0000, b"x"), &RP2040).is_err());
        assert!(elf_to_uf2(b"nope", &RP2040).is_err());
        assert!(parse(&[0; 100]).is_err());
    }
}

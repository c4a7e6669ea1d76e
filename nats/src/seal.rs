//! Encryption at rest (ARCHITECTURE.md "Trust boundaries"): what Revenant writes
//! of a worker's data — oplog payloads (and the blobs oversize ones spill to in
//! `RVN_BLOBS`) and results in `RVN_RESULTS` — is sealed with AES-256-GCM
//! (`ring`) when a keyring is configured, so JetStream's store holds no
//! plaintext worker data. Headers, subjects and KV keys stay readable (they are
//! names and sequence numbers the server itself needs).
//!
//! The envelope: `C1 52 53 01` (0xC1 is never the first byte of MessagePack,
//! so a sealed value is never mistaken for a plain one), the key id's length
//! (one byte) and the key id, a random 96-bit nonce, then the ciphertext and
//! its 16-byte tag; the four magic bytes, the key id and the value's place (the
//! worker's oplog subject, the result's key) are authenticated data, so a sealed
//! value copied into another worker's journal or result does not open.
//! A plain value (written before encryption was on) reads as it is; a sealed
//! one is opened with the key its envelope names, so after a rotation old
//! entries still decrypt (`revenant keys rotate` appends a key to the keyring
//! and re-encrypts nothing; new writes use the newest key). Snapshots are not
//! written by this version, so there is nothing of theirs to seal yet.

use std::borrow::Cow;

use base64::Engine;
use revenant_types::config::EncryptionOptions;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

const MAGIC: [u8; 4] = [0xC1, b'R', b'S', 1];

/// The keys of a deployment: every one opens, the last one seals.
pub struct Keyring {
    keys: Vec<(String, LessSafeKey)>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("ids", &ids).finish()
    }
}

/// A new key line, `<id> <base64 of 32 random bytes>`.
pub fn new_key_line(id: &str) -> Result<String> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| Error::Seal("the system random source failed".into()))?;
    Ok(format!(
        "{id} {}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

impl Keyring {
    /// Parses a keyring: entries `<key-id> <base64 key>` separated by newlines or `;`,
    /// `#` comments; at least one.
    pub fn parse(text: &str) -> Result<Keyring> {
        let mut keys = Vec::new();
        for entry in text.split(['\n', ';']).map(str::trim) {
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let bad = |why: &str| {
                Error::Seal(format!(
                    "keyring entry {:?}: {why}; expected `<key-id> <base64 of 32 bytes>` (`revenant keys new` writes one)",
                    entry.split_whitespace().next().unwrap_or_default()
                ))
            };
            let mut parts = entry.split_whitespace();
            let (Some(id), Some(key), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad("not two fields"));
            };
            if id.len() > 64 {
                return Err(bad("a key id of more than 64 bytes"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(key)
                .map_err(|_| bad("the key is not base64"))?;
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| bad("the key is not 32 bytes"))?;
            if keys.iter().any(|(k, _)| k == id) {
                return Err(bad("a key id used twice"));
            }
            keys.push((id.to_owned(), LessSafeKey::new(unbound)));
        }
        if keys.is_empty() {
            return Err(Error::Seal(
                "the keyring holds no key; expected at least one `<key-id> <base64 key>` line"
                    .into(),
            ));
        }
        Ok(Keyring {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// The keyring `opts` configure (`None`: encryption is off).
    pub fn load(opts: &EncryptionOptions) -> Result<Option<Keyring>> {
        let mut text = String::new();
        if let Some(path) = &opts.key_file {
            text = std::fs::read_to_string(path).map_err(|e| {
                Error::Seal(format!("cannot read the key file {}: {e}", path.display()))
            })?;
        }
        if let Some(keys) = &opts.keys {
            text.push('\n');
            text.push_str(keys);
        }
        if opts.key_file.is_none() && opts.keys.is_none() {
            return Ok(None);
        }
        Keyring::parse(&text).map(Some)
    }

    /// The id new writes are sealed with.
    pub fn active_id(&self) -> &str {
        &self.keys[self.keys.len() - 1].0
    }

    /// Seals `plain`, stored at `place`, with the newest key.
    pub fn seal(&self, plain: &[u8], place: &str) -> Result<Vec<u8>> {
        let (id, key) = &self.keys[self.keys.len() - 1];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::Seal("the system random source failed".into()))?;
        let mut out = Vec::with_capacity(plain.len() + id.len() + 40);
        out.extend_from_slice(&MAGIC);
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        let header_len = out.len();
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        let aad = [&out[..header_len], place.as_bytes()].concat();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut body,
        )
        .map_err(|_| Error::Seal("sealing failed".into()))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a sealed value stored at `place` (a plain one is returned as it is).
    pub fn open<'a>(&self, bytes: &'a [u8], place: &str) -> Result<Cow<'a, [u8]>> {
        let Some((id, header_len)) = envelope(bytes)? else {
            return Ok(Cow::Borrowed(bytes));
        };
        let (_, key) = self.keys.iter().find(|(k, _)| k == id).ok_or_else(|| {
            Error::Seal(format!(
                "a value is sealed with key {id:?}, which is not in the keyring; add that key back (rotation keeps every old key)"
            ))
        })?;
        let nonce = Nonce::try_assume_unique_for_key(&bytes[header_len..header_len + NONCE_LEN])
            .map_err(|_| Error::Seal("a sealed value has no nonce".into()))?;
        let mut body = bytes[header_len + NONCE_LEN..].to_vec();
        let aad = [&bytes[..header_len], place.as_bytes()].concat();
        let plain = key
            .open_in_place(nonce, Aad::from(&aad), &mut body)
            .map_err(|_| {
                Error::Seal(format!(
                    "the value at {place} sealed with key {id:?} does not authenticate: it was altered or copied from elsewhere, or the key {id:?} in the keyring is not the one it was sealed with"
                ))
            })?
            .len();
        body.truncate(plain);
        Ok(Cow::Owned(body))
    }
}

/// The key id and header length of a sealed value (`None`: a plain value).
fn envelope(bytes: &[u8]) -> Result<Option<(&str, usize)>> {
    if !bytes.starts_with(&MAGIC) {
        return Ok(None);
    }
    let truncated = || Error::Seal("a sealed value is truncated".into());
    let id_len = *bytes.get(MAGIC.len()).ok_or_else(truncated)? as usize;
    let header_len = MAGIC.len() + 1 + id_len;
    if bytes.len() < header_len + NONCE_LEN + 16 {
        return Err(truncated());
    }
    let id = std::str::from_utf8(&bytes[MAGIC.len() + 1..header_len])
        .map_err(|_| Error::Seal("a sealed value's key id is not UTF-8".into()))?;
    Ok(Some((id, header_len)))
}

/// Opens `bytes` (stored at `place`) with `keyring`, or says which key is missing
/// when there is none.
pub fn open<'a>(keyring: Option<&Keyring>, bytes: &'a [u8], place: &str) -> Result<Cow<'a, [u8]>> {
    match keyring {
        Some(k) => k.open(bytes, place),
        None => match envelope(bytes)? {
            None => Ok(Cow::Borrowed(bytes)),
            Some((id, _)) => Err(Error::Seal(format!(
                "a value is sealed with key {id:?} and no keyring is configured; set --encryption-key-file (or REVENANT_ENCRYPTION_KEYS)"
            ))),
        },
    }
}

/// Seals `plain` (to be stored at `place`) with `keyring`, or keeps it plain when
/// there is none.
pub fn seal(keyring: Option<&Keyring>, plain: Vec<u8>, place: &str) -> Result<Vec<u8>> {
    match keyring {
        Some(k) => k.seal(&plain, place),
        None => Ok(plain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(lines: &[&str]) -> Keyring {
        Keyring::parse(&lines.join("\n")).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_and_holds_no_plaintext() {
        let line = new_key_line("k1").unwrap();
        let k = ring(&[&line]);
        let sealed = k.seal(b"the secret argument 4242", "p").unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"4242"));
        assert_eq!(&*k.open(&sealed, "p").unwrap(), b"the secret argument 4242");
    }

    #[test]
    fn after_a_rotation_old_values_open_and_new_ones_use_the_new_key() {
        let (a, b) = (new_key_line("k1").unwrap(), new_key_line("k2").unwrap());
        let old = ring(&[&a]).seal(b"old", "p").unwrap();
        let rotated = ring(&[&a, &b]);
        assert_eq!(rotated.active_id(), "k2");
        assert_eq!(&*rotated.open(&old, "p").unwrap(), b"old");
        let new = rotated.seal(b"new", "p").unwrap();
        assert_eq!(envelope(&new).unwrap().unwrap().0, "k2");
        let e = ring(&[&a]).open(&new, "p").unwrap_err();
        assert!(
            e.to_string()
                .contains("\"k2\", which is not in the keyring"),
            "{e}"
        );
    }

    #[test]
    fn a_plain_value_reads_as_it_is_with_or_without_a_keyring() {
        let k = ring(&[&new_key_line("k1").unwrap()]);
        assert_eq!(&*k.open(b"\x92\x01\x02", "p").unwrap(), b"\x92\x01\x02");
        assert_eq!(&*open(None, b"\x92\x01", "p").unwrap(), b"\x92\x01");
    }

    #[test]
    fn an_altered_value_or_a_wrong_key_is_refused() {
        let k = ring(&[&new_key_line("k1").unwrap()]);
        let mut sealed = k.seal(b"value", "p").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(
            k.open(&sealed, "p")
                .unwrap_err()
                .to_string()
                .contains("does not authenticate")
        );
        let other = ring(&[&new_key_line("k1").unwrap()]);
        assert!(other.open(&k.seal(b"v", "p").unwrap(), "p").is_err());
        let e = open(None, &k.seal(b"v", "p").unwrap(), "p").unwrap_err();
        assert!(e.to_string().contains("no keyring is configured"), "{e}");
    }

    #[test]
    fn a_value_sealed_for_one_place_does_not_open_at_another() {
        let k = ring(&[&new_key_line("k1").unwrap()]);
        let sealed = k.seal(b"value", "rvn.oplog.c.a").unwrap();
        assert!(k.open(&sealed, "rvn.oplog.c.a").is_ok());
        let e = k.open(&sealed, "rvn.oplog.c.b").unwrap_err().to_string();
        assert!(e.contains("copied from elsewhere"), "{e}");
    }

    #[test]
    fn bad_keyrings_say_what_was_expected() {
        for text in ["", "k1", "k1 not-base64!", "k1 AAAA", "k1 a b"] {
            let e = Keyring::parse(text).unwrap_err().to_string();
            assert!(e.contains("expected"), "{text:?}: {e}");
        }
        let line = new_key_line("k1").unwrap();
        assert!(Keyring::parse(&format!("{line};{line}")).is_err());
        let e = format!("{:?}", ring(&[&line]));
        assert!(!e.contains(line.split(' ').nth(1).unwrap()), "{e}");
    }
}

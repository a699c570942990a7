//! PIN hashing: Argon2id PHC strings, the format the central sends in `user.upsert.pin_hash`.
//! Hashing is deliberately slow, so callers run it on a blocking thread, never on the runtime or
//! the store's writer thread.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{Error, Result};

pub fn hash(pin: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("pin hash: {e}")))
}

pub fn verify(pin: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(pin.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pin_verifies_against_its_hash_only() {
        let h = super::hash("4711").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("4711", &h));
        assert!(!super::verify("4712", &h));
        assert!(!super::verify("4711", "not a hash"));
    }
}

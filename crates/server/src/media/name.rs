//! The rule for a media name: the last segment of an object key, so it must never reach
//! another directory, tenant or incarnation, nor collide with a store's staging files.

use std::fmt;

pub const MEDIA_NAME_RULE: &str = "a media name is 1 to 128 characters: letters, digits, `.`, `_` \
and `-`, starting with a letter or digit";

/// A validated media name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown} is not a valid media name: {MEDIA_NAME_RULE}")]
pub struct MediaNameError {
    shown: String,
}

impl MediaName {
    pub fn parse(input: &str) -> Result<MediaName, MediaNameError> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        let valid = (1..=128).contains(&input.len())
            && input.as_bytes()[0].is_ascii_alphanumeric()
            && input.bytes().all(allowed);
        if valid {
            Ok(MediaName(input.to_owned()))
        } else {
            // Quoted, escaped and short: it goes back into error bodies.
            let shown: String = input.chars().take(48).collect();
            Err(MediaNameError {
                shown: format!("{shown:?}"),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MediaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MediaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaName({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_stay_in_their_place_are_accepted() {
        for ok in [
            "vmlinuz",
            "initrd-6.1.img",
            "a",
            "A_b.c-d",
            &"x".repeat(128),
        ] {
            assert_eq!(MediaName::parse(ok).map(|n| n.0), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn names_that_could_leave_it_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-x",
            "_x",
            "a/b",
            "../etc/passwd",
            "a\\b",
            "a#1",
            "a b",
            "a\0b",
            "é",
            "a%2fb",
            "a:b",
            &"x".repeat(129),
        ] {
            assert!(MediaName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

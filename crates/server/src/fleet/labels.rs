//! Labels on hosts and enrollment tokens: one rule for both.

use std::collections::BTreeMap;

pub const MAX_LABELS: usize = 64;

/// Keys are 1–63 characters of letters, digits and `-_./`; values at most 255 characters
/// without control characters; at most 64 labels.
pub fn validate(labels: &BTreeMap<String, String>) -> Result<(), String> {
    if labels.len() > MAX_LABELS {
        return Err(format!("at most {MAX_LABELS} labels"));
    }
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 63
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        if !key_ok || v.len() > 255 || v.chars().any(char::is_control) {
            return Err("label keys are 1 to 63 characters of letters, digits, `-_./`; values at most 255 characters".into());
        }
    }
    Ok(())
}

//! The one place SQL identifiers are quoted. Identifiers come from validated slugs, but
//! they are quoted all the same; user input is never formatted into SQL, only bound.

/// Quotes an identifier for SQL (`"name"`, inner quotes doubled).
pub fn quote_ident(ident: &str) -> String {
    let mut out = String::with_capacity(ident.len() + 2);
    out.push('"');
    for c in ident.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Quotes a string literal for SQL (`'text'`, inner quotes doubled), for the few
/// statements that take no bind parameters (role settings, OpenBAO statement templates).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::{quote_ident, quote_literal};

    #[test]
    fn quotes_literals() {
        assert_eq!(quote_literal("t_acme_rw"), "'t_acme_rw'");
        assert_eq!(quote_literal("a'b"), "'a''b'");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(quote_ident("t_acme"), "\"t_acme\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote_ident("x\"; DROP TABLE y; --"),
            "\"x\"\"; DROP TABLE y; --\""
        );
    }
}

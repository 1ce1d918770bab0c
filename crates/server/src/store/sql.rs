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

#[cfg(test)]
mod tests {
    use super::quote_ident;

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

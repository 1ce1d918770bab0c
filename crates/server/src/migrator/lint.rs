//! The expand–contract rule for migrations: a release never drops, renames, or adds a
//! NOT NULL column without a default, because the previous release is still running against
//! the same database while it migrates. A statement preceded by
//! `-- expand-contract-ok: <reason>` is a deliberate, reviewed exception.

/// The comment that allows one statement to break the rule.
pub const ALLOW: &str = "-- expand-contract-ok:";

/// One statement that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 1-based line where the statement starts.
    pub line: usize,
    pub rule: &'static str,
    pub statement: String,
}

/// Checks one migration file's SQL.
pub fn lint(sql: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut statement = String::new();
    let mut start_line = 0;
    let mut allowed = false;
    for (i, raw) in sql.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with("--") {
            let is_allow = line
                .strip_prefix(ALLOW)
                .is_some_and(|reason| !reason.trim().is_empty());
            if statement.trim().is_empty() {
                allowed |= is_allow;
            }
            continue;
        }
        let code = line.split("--").next().unwrap_or_default();
        for (j, part) in code.split(';').enumerate() {
            if j > 0 {
                check(&statement, start_line, allowed, &mut violations);
                statement.clear();
                allowed = false;
            }
            if statement.trim().is_empty() && !part.trim().is_empty() {
                start_line = i + 1;
            }
            statement.push(' ');
            statement.push_str(part);
        }
    }
    check(&statement, start_line, allowed, &mut violations);
    violations
}

fn check(statement: &str, line: usize, allowed: bool, out: &mut Vec<Violation>) {
    let words: Vec<String> = statement
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    if words.is_empty() || allowed {
        return;
    }
    let text = words.join(" ");
    let mut flag = |rule| {
        out.push(Violation {
            line,
            rule,
            statement: statement.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    };
    if text.contains("DROP COLUMN") {
        flag("drops a column");
    }
    if text.starts_with("DROP TABLE") {
        flag("drops a table");
    }
    if words.iter().any(|w| w == "RENAME") {
        flag("renames");
    }
    if text.starts_with("ALTER TABLE")
        && words.iter().any(|w| w == "ADD")
        && text.contains("NOT NULL")
        && !words.iter().any(|w| w == "DEFAULT")
        && !text.contains("ADD CONSTRAINT")
    {
        flag("adds a NOT NULL column without a default");
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    #[test]
    fn flags_each_rule() {
        let cases = [
            ("ALTER TABLE hosts DROP COLUMN os;", "drops a column"),
            ("drop table hosts;", "drops a table"),
            ("ALTER TABLE hosts RENAME TO machines;", "renames"),
            ("ALTER TABLE hosts RENAME COLUMN os TO system;", "renames"),
            (
                "ALTER TABLE hosts ADD COLUMN rack TEXT NOT NULL;",
                "adds a NOT NULL column without a default",
            ),
            (
                "ALTER TABLE hosts\n  ADD rack INTEGER\n  NOT NULL;",
                "adds a NOT NULL column without a default",
            ),
        ];
        for (sql, rule) in cases {
            let v = lint(sql);
            assert_eq!(v.len(), 1, "{sql}: {v:?}");
            assert_eq!(v[0].rule, rule, "{sql}");
        }
    }

    #[test]
    fn allows_safe_and_marked_statements() {
        let ok = "CREATE TABLE t (id INTEGER NOT NULL);\n\
                  ALTER TABLE hosts ADD COLUMN rack TEXT NOT NULL DEFAULT '';\n\
                  ALTER TABLE hosts ADD COLUMN notes TEXT;\n\
                  -- expand-contract-ok: nothing reads this column since release 3\n\
                  ALTER TABLE hosts DROP COLUMN legacy;\n\
                  CREATE INDEX hosts_rename_idx ON hosts (hostname); -- \"rename\" in a comment\n";
        assert_eq!(lint(ok), Vec::new());
        // The marker needs a reason, and covers only the statement right after it.
        let sql = "-- expand-contract-ok:\nDROP TABLE a;\n-- expand-contract-ok: gone\nDROP TABLE b;\nDROP TABLE c;\n";
        let lines: Vec<usize> = lint(sql).iter().map(|v| v.line).collect();
        assert_eq!(lines, [2, 5]);
    }

    fn sql_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sql_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "sql") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_migration_follows_expand_contract() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut files = Vec::new();
        sql_files(&root, &mut files);
        assert!(
            files.len() >= 3,
            "no migrations found under {}",
            root.display()
        );
        let mut problems = Vec::new();
        for file in files {
            let sql = std::fs::read_to_string(&file).unwrap_or_default();
            for v in lint(&sql) {
                problems.push(format!(
                    "{}:{}: {}: {}",
                    file.display(),
                    v.line,
                    v.rule,
                    v.statement
                ));
            }
        }
        assert!(
            problems.is_empty(),
            "expand-contract violations:\n{}",
            problems.join("\n")
        );
    }
}

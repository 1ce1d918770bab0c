//! Placement: which instance a new tenant goes to. A pure function of the instances and
//! their tenant counts — no I/O — so every rule is unit-tested here.

use std::collections::BTreeMap;
use std::fmt;

/// One instance as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub name: &'a str,
    pub region: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub max_tenants: Option<u64>,
    /// Tenants placed there now (any status but gone).
    pub tenants: u64,
}

/// What the request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Constraint {
    /// A named instance.
    pub instance: Option<String>,
    pub region: Option<String>,
    /// Every one of these must be on the instance.
    pub labels: BTreeMap<String, String>,
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(i) = &self.instance {
            parts.push(format!("instance {i}"));
        }
        if let Some(r) = &self.region {
            parts.push(format!("region {r}"));
        }
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            parts.push(format!("labels {}", labels.join(",")));
        }
        if parts.is_empty() {
            f.write_str("any instance")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoMatch {
    #[error("no instance matches {0}")]
    NoneMatch(Constraint),
    #[error("every instance matching {0} is full (max_tenants reached)")]
    AllFull(Constraint),
}

/// Picks the matching instance with the fewest tenants that is under its `max_tenants`;
/// ties go to the first by name, so the choice is deterministic.
pub fn place<'a>(candidates: &[Candidate<'a>], want: &Constraint) -> Result<&'a str, NoMatch> {
    let matching: Vec<&Candidate<'a>> = candidates.iter().filter(|c| matches(c, want)).collect();
    if matching.is_empty() {
        return Err(NoMatch::NoneMatch(want.clone()));
    }
    matching
        .into_iter()
        .filter(|c| c.max_tenants.is_none_or(|max| c.tenants < max))
        .min_by(|a, b| a.tenants.cmp(&b.tenants).then_with(|| a.name.cmp(b.name)))
        .map(|c| c.name)
        .ok_or_else(|| NoMatch::AllFull(want.clone()))
}

fn matches(c: &Candidate<'_>, want: &Constraint) -> bool {
    want.instance.as_deref().is_none_or(|i| i == c.name)
        && want.region.as_deref().is_none_or(|r| r == c.region)
        && want.labels.iter().all(|(k, v)| c.labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    struct Fixture {
        eu: BTreeMap<String, String>,
        us: BTreeMap<String, String>,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                eu: labels(&[("jurisdiction", "eu"), ("tier", "gold")]),
                us: labels(&[("jurisdiction", "us")]),
            }
        }

        fn candidates(&self, counts: [u64; 3]) -> Vec<Candidate<'_>> {
            vec![
                Candidate {
                    name: "eu-1",
                    region: "eu-west",
                    labels: &self.eu,
                    max_tenants: Some(2),
                    tenants: counts[0],
                },
                Candidate {
                    name: "eu-2",
                    region: "eu-west",
                    labels: &self.eu,
                    max_tenants: None,
                    tenants: counts[1],
                },
                Candidate {
                    name: "us-1",
                    region: "us-east",
                    labels: &self.us,
                    max_tenants: Some(10),
                    tenants: counts[2],
                },
            ]
        }
    }

    fn want(instance: Option<&str>, region: Option<&str>, l: &[(&str, &str)]) -> Constraint {
        Constraint {
            instance: instance.map(str::to_owned),
            region: region.map(str::to_owned),
            labels: labels(l),
        }
    }

    #[test]
    fn fewest_tenants_wins_and_ties_go_by_name() {
        let f = Fixture::new();
        assert_eq!(
            place(&f.candidates([0, 0, 0]), &Constraint::default()),
            Ok("eu-1")
        );
        assert_eq!(
            place(&f.candidates([1, 0, 0]), &Constraint::default()),
            Ok("eu-2")
        );
        assert_eq!(
            place(&f.candidates([1, 1, 0]), &Constraint::default()),
            Ok("us-1")
        );
    }

    #[test]
    fn region_and_labels_filter() {
        let f = Fixture::new();
        let c = f.candidates([0, 5, 0]);
        assert_eq!(place(&c, &want(None, Some("us-east"), &[])), Ok("us-1"));
        assert_eq!(
            place(&c, &want(None, None, &[("jurisdiction", "eu")])),
            Ok("eu-1")
        );
        assert_eq!(
            place(&c, &want(None, Some("eu-west"), &[("tier", "gold")])),
            Ok("eu-1")
        );
        let err = place(&c, &want(None, Some("us-east"), &[("jurisdiction", "eu")]));
        assert!(matches!(err, Err(NoMatch::NoneMatch(_))));
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("region us-east") && msg.contains("jurisdiction=eu"),
            "{msg}"
        );
    }

    #[test]
    fn max_tenants_is_respected() {
        let f = Fixture::new();
        let c = f.candidates([2, 9, 0]);
        assert_eq!(
            place(&c, &want(None, None, &[("jurisdiction", "eu")])),
            Ok("eu-2")
        );
        assert!(matches!(
            place(&c, &want(Some("eu-1"), None, &[])),
            Err(NoMatch::AllFull(_))
        ));
        let c = f.candidates([0, 0, 10]);
        assert!(matches!(
            place(&c, &want(None, Some("us-east"), &[])),
            Err(NoMatch::AllFull(_))
        ));
    }

    #[test]
    fn named_instance() {
        let f = Fixture::new();
        let c = f.candidates([0, 0, 5]);
        assert_eq!(place(&c, &want(Some("us-1"), None, &[])), Ok("us-1"));
        assert!(matches!(
            place(&c, &want(Some("nope"), None, &[])),
            Err(NoMatch::NoneMatch(_))
        ));
        // A named instance must also satisfy the rest of the constraint.
        assert!(matches!(
            place(&c, &want(Some("us-1"), Some("eu-west"), &[])),
            Err(NoMatch::NoneMatch(_))
        ));
    }

    #[test]
    fn no_instances() {
        assert!(matches!(
            place(&[], &Constraint::default()),
            Err(NoMatch::NoneMatch(_))
        ));
    }
}

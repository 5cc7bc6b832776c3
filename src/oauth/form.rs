//! `application/x-www-form-urlencoded` request bodies (RFC 6749 §3.2, Appendix B):
//! parameters sent without a value are treated as omitted, and none may be repeated
//! except those a specification allows to repeat (`resource`, RFC 8707 §2).

use super::OAuthError;

const REPEATABLE: &[&str] = &["resource"];

#[derive(Default)]
pub struct Form {
    params: Vec<(String, String)>,
}

/// Names only: values can be secrets.
impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.params.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if name.is_empty() || value.is_empty() {
                continue;
            }
            let repeated = !seen.insert(name.clone());
            if repeated && !REPEATABLE.contains(&name.as_ref()) {
                return Err(OAuthError::InvalidRequest(format!(
                    "The parameter '{}' is repeated.",
                    printable(&name)
                )));
            }
            params.push((name.into_owned(), value.into_owned()));
        }
        Ok(Form { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::InvalidRequest(format!("The parameter '{name}' is required."))
        })
    }
}

/// A parameter name fit to echo in an error: short and printable.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parameters_and_ignores_empty_ones() {
        let form = Form::parse(b"grant_type=client_credentials&scope=a+b%20c&empty=&=x").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("a b c"));
        assert_eq!(form.get("empty"), None);
        assert!(form.require("code").is_err());
    }

    #[test]
    fn refuses_repeated_parameters_except_resource() {
        assert!(matches!(
            Form::parse(b"scope=a&scope=b"),
            Err(OAuthError::InvalidRequest(text)) if text.contains("scope")
        ));
        let form = Form::parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(form.all("resource").count(), 2);
    }

    #[test]
    fn survives_bad_percent_encoding() {
        let form = Form::parse(b"a=%zz&b=%FF%FE").unwrap();
        assert_eq!(form.get("a"), Some("%zz"));
        assert!(form.get("b").is_some());
    }
}

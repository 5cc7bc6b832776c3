//! Property tests (`proptest`) of the parsers that read untrusted input outside the
//! HTTP layer: form bodies, Basic client credentials, scopes, redirect URIs, resource
//! indicators, JWT headers and PKCE values. For each: no input makes it panic, what it
//! accepts obeys the grammar it implements, and where it has a writer the two
//! round-trip. (The token API's body formats, JSON:API included, are tested the same
//! way beside their extractor, `http::token_body`.)

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use secrecy::ExposeSecret;

use crate::clients::{scope_string, RedirectUri, ScopeToken, MAX_SCOPE_TOKEN_LEN};
use crate::keys::jwt;
use crate::oauth::pkce::{CodeChallenge, CodeVerifier, MAX_VERIFIER_LEN, MIN_VERIFIER_LEN};
use crate::oauth::resource::parse_resource;
use crate::oauth::scope::grant_scopes;
use crate::oauth::{presented_client, AuthMethod, Form, OAuthError};

fn form_encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// `base64(urlencode(id) ":" urlencode(secret))`, as RFC 6749 §2.3.1 has clients send.
fn basic(id: &str, secret: &str) -> String {
    let encode = |part: &str| url::form_urlencoded::byte_serialize(part.as_bytes()).collect();
    let (id, secret): (String, String) = (encode(id), encode(secret));
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn is_nqchar(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// Text shaped like a URI often enough that a parser's acceptance is exercised: a
/// scheme (some allowed, some not), an authority that may hold user information, a
/// loopback host, a port, a wildcard or a fragment, and a path and query — or anything.
fn uri_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,100}",
        "(https|http|javascript|data|ftp|com\\.example\\.app):(//)?\
         ([a-z]{1,5}(:[a-z]{0,5})?@)?\
         (127\\.0\\.0\\.1|\\[::1\\]|localhost|[a-z*]{1,8}\\.[a-z]{2,3})?\
         (:[0-9]{1,5})?(/[a-zA-Z0-9._~%*-]{0,8}){0,3}(\\?[a-z=&]{0,10})?(#[a-z]{0,5})?",
    ]
}

/// Strings of the pattern the OpenAPI document gives redirect URIs, which promises that
/// the API takes them.
fn documented_redirect_uri() -> impl Strategy<Value = String> {
    use utoipa::openapi::{schema::Schema, RefOr};
    let RefOr::T(Schema::Object(schema)) = <RedirectUri as utoipa::PartialSchema>::schema() else {
        unreachable!("a redirect URI's schema is an inline string schema")
    };
    let pattern = schema.pattern.expect("a pattern");
    let unanchored = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .expect("an anchored pattern");
    proptest::string::string_regex(unanchored).expect("a pattern proptest can generate from")
}

/// A scope token: 1 to 20 NQCHARs.
fn scope_token() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,20}"
}

proptest! {
    #[test]
    fn a_form_never_panics(body in vec(any::<u8>(), 0..512)) {
        let _ = Form::parse(&body);
    }

    #[test]
    fn a_form_reads_back_what_was_encoded(
        params in hash_map("[^\u{0}]{1,12}", "[^\u{0}]{1,24}", 0..8),
    ) {
        let body = form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let form = Form::parse(body.as_bytes()).expect("distinct names parse");
        for (name, value) in &params {
            prop_assert_eq!(form.get(name), Some(value.as_str()));
        }
    }

    #[test]
    fn a_repeated_parameter_is_refused_except_resource(
        name in "[a-z_]{1,12}",
        one in "[a-z0-9]{1,8}",
        two in "[a-z0-9]{1,8}",
    ) {
        let body = form_encode([(name.as_str(), one.as_str()), (name.as_str(), two.as_str())]);
        let parsed = Form::parse(body.as_bytes());
        if name == "resource" {
            let form = parsed.expect("resource may repeat");
            prop_assert_eq!(form.all("resource").count(), 2);
        } else {
            prop_assert!(matches!(parsed, Err(OAuthError::InvalidRequest(_))));
        }
    }

    #[test]
    fn basic_credentials_never_panic(header in "\\PC{0,80}", body in vec(any::<u8>(), 0..64)) {
        if let Ok(form) = Form::parse(&body) {
            let _ = presented_client(Some(&header), &form);
            let _ = presented_client(Some(&format!("Basic {header}")), &form);
        }
    }

    #[test]
    fn basic_credentials_round_trip(id in "[^\u{0}]{1,40}", secret in "[^\u{0}]{1,64}") {
        let presented = presented_client(Some(&basic(&id, &secret)), &Form::default())
            .expect("well-formed Basic credentials");
        prop_assert_eq!(presented.method, AuthMethod::Basic);
        prop_assert_eq!(&presented.client_id, &id);
        let presented_secret = presented.secret.expect("a secret");
        prop_assert_eq!(presented_secret.expose_secret(), secret.as_str());
    }

    #[test]
    fn an_accepted_scope_token_is_nqchars_and_round_trips(raw in "\\PC{0,140}") {
        if let Ok(scope) = ScopeToken::parse(&raw) {
            prop_assert!(!raw.is_empty() && raw.len() <= MAX_SCOPE_TOKEN_LEN);
            prop_assert!(raw.chars().all(is_nqchar));
            prop_assert_eq!(ScopeToken::parse(scope.as_str()), Ok(scope.clone()));
        } else {
            prop_assert!(
                raw.is_empty() || raw.len() > MAX_SCOPE_TOKEN_LEN || !raw.chars().all(is_nqchar)
            );
        }
    }

    #[test]
    fn granted_scopes_are_the_requested_allowed_ones(
        allowed in vec(scope_token(), 0..6),
        requested in vec(scope_token(), 0..6),
        spaces in "[ ]{1,3}",
    ) {
        let allowed: Vec<ScopeToken> = allowed.iter().map(|s| ScopeToken::parse(s).unwrap()).collect();
        let text = requested.join(&spaces);
        match grant_scopes(Some(&text), &allowed) {
            Ok(granted) => {
                prop_assert!(granted.iter().all(|scope| allowed.contains(scope)));
                prop_assert!(requested.iter().all(|raw| granted.iter().any(|g| g.as_str() == raw)));
                let again = grant_scopes(Some(&scope_string(&granted)), &allowed);
                prop_assert_eq!(again, Ok(granted));
            }
            Err(error) => {
                prop_assert!(matches!(error, OAuthError::InvalidScope(_)));
                prop_assert!(requested.iter().any(|raw| !allowed.iter().any(|a| a.as_str() == raw)));
            }
        }
    }

    #[test]
    fn an_accepted_redirect_uri_is_safe_and_kept_exactly(raw in uri_like()) {
        if let Ok(uri) = RedirectUri::parse(&raw) {
            prop_assert_eq!(uri.as_str(), raw.as_str());
            prop_assert!(!raw.contains('#') && !raw.contains('*'));
            let url = url::Url::parse(&raw).expect("absolute");
            prop_assert!(url.username().is_empty() && url.password().is_none());
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
            let reverse_domain = url.scheme().split('.').count() >= 2
                && url.scheme().split('.').all(|label| {
                    !label.is_empty()
                        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                });
            let private_use = reverse_domain
                && (url.host_str().is_some_and(|host| !host.is_empty()) || url.path().starts_with('/'));
            prop_assert!(
                url.scheme() == "https" || (url.scheme() == "http" && loopback) || private_use
            );
        }
    }

    #[test]
    fn redirect_uris_of_any_host_and_path(
        host in "[a-z]{1,10}(\\.[a-z]{2,5}){1,2}",
        path in "(/[A-Za-z0-9._~-]{0,10}){0,3}",
        port in proptest::option::of(1u16..),
    ) {
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let https = format!("https://{host}{port}{path}");
        prop_assert!(RedirectUri::parse(&https).is_ok(), "{}", https);
        let http = format!("http://{host}{port}{path}");
        prop_assert!(RedirectUri::parse(&http).is_err(), "{}", http);
        let loopback = format!("http://127.0.0.1{port}{path}");
        prop_assert!(RedirectUri::parse(&loopback).is_ok(), "{}", loopback);
    }

    #[test]
    fn every_redirect_uri_the_documents_pattern_allows_is_accepted(
        raw in documented_redirect_uri(),
    ) {
        prop_assert!(RedirectUri::parse(&raw).is_ok(), "{}", raw);
    }

    #[test]
    fn a_resource_is_exactly_an_absolute_uri_without_fragment(raw in uri_like()) {
        let expected = url::Url::parse(&raw).is_ok_and(|url| url.fragment().is_none());
        prop_assert_eq!(parse_resource(&raw).is_ok(), expected);
    }

    #[test]
    fn a_jwt_never_panics(token in "[A-Za-z0-9_.=+/-]{0,200}") {
        if let Ok(parsed) = jwt::parse(&token) {
            let _ = parsed.claims();
        }
    }

    #[test]
    fn a_jwt_header_is_accepted_only_with_a_served_alg_a_kid_and_no_key_source(
        alg in prop_oneof![
            Just("ES256".to_owned()), Just("EdDSA".to_owned()), Just("RS256".to_owned()),
            Just("none".to_owned()), Just("HS256".to_owned()), Just("es256".to_owned()),
            "[A-Za-z0-9]{0,6}",
        ],
        kid in proptest::option::of("[a-zA-Z0-9]{0,8}"),
        key_source in proptest::option::of(prop_oneof![
            Just("jku"), Just("jwk"), Just("x5u"), Just("x5c"), Just("crit"),
        ]),
        extra in hash_map("[a-z]{6,8}", "[a-zA-Z0-9]{0,8}", 0..3),
        signature in vec(any::<u8>(), 0..80),
    ) {
        let mut header = serde_json::Map::new();
        for (name, value) in &extra {
            header.insert(name.clone(), value.clone().into());
        }
        header.insert("alg".into(), alg.clone().into());
        if let Some(kid) = &kid {
            header.insert("kid".into(), kid.clone().into());
        }
        if let Some(name) = key_source {
            header.insert(name.into(), "https://attacker.test/keys".into());
        }
        let token = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#),
            URL_SAFE_NO_PAD.encode(&signature),
        );
        let served = ["ES256", "EdDSA", "RS256"].contains(&alg.as_str());
        match jwt::parse(&token) {
            Ok(parsed) => {
                prop_assert!(served && kid.is_some() && key_source.is_none());
                prop_assert_eq!(parsed.signature.as_slice(), signature.as_slice());
            }
            Err(_) => prop_assert!(!served || kid.is_none() || key_source.is_some()),
        }
    }

    #[test]
    fn a_verifier_is_43_to_128_unreserved_characters(raw in "\\PC{0,140}") {
        let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        let expected = (MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&raw.len())
            && raw.chars().all(unreserved);
        prop_assert_eq!(CodeVerifier::parse(&raw).is_ok(), expected);
    }

    #[test]
    fn a_verifier_meets_its_own_challenge_only(
        verifier in "[A-Za-z0-9._~-]{43,128}",
        other in "[A-Za-z0-9._~-]{43,128}",
    ) {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        let challenge = CodeChallenge::parse(&URL_SAFE_NO_PAD.encode(digest.as_ref()))
            .expect("an S256 challenge");
        prop_assert!(challenge.is_met_by(&CodeVerifier::parse(&verifier).unwrap()));
        prop_assert_eq!(
            challenge.is_met_by(&CodeVerifier::parse(&other).unwrap()),
            other == verifier
        );
    }

    #[test]
    fn a_challenge_never_panics(challenge in "\\PC{0,60}", method in "\\PC{0,10}") {
        let _ = CodeChallenge::from_request(Some(&challenge), Some(&method));
        if let Ok(parsed) = CodeChallenge::parse(&challenge) {
            prop_assert_eq!(parsed.as_str().len(), 43);
        }
    }
}

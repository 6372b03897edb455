use super::*;
use crate::model::ChatMessage;
use pretty_assertions::assert_eq;

fn scanner() -> Scanner {
    Scanner::new(&ScannerConfig {
        patterns: vec![r"ACME-\d{6}".into()],
        ..ScannerConfig::default()
    })
    .unwrap()
}

fn kinds(text: &str) -> Vec<Kind> {
    scanner().scan(text).into_iter().map(|f| f.kind).collect()
}

#[test]
fn finds_each_kind_of_secret() {
    let cases: Vec<(&str, Kind)> = vec![
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
            Kind::PrivateKey,
        ),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow", Kind::PrivateKey),
        ("key id AKIAIOSFODNN7EXAMPLE here", Kind::CloudKey),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            Kind::CloudKey,
        ),
        (
            "maps key AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
            Kind::CloudKey,
        ),
        (
            "token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            Kind::ServiceToken,
        ),
        ("glpat-xY12ab34cd56ef78gh90", Kind::ServiceToken),
        ("xoxb-123456789012-abcdefghijkl", Kind::ServiceToken),
        ("OPENAI=sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t", Kind::ModelApiKey),
        ("sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv", Kind::ModelApiKey),
        ("stripe sk_live_51HxYzAbCdEfGhIjKlMnOpQr", Kind::PaymentKey),
        (
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            Kind::Jwt,
        ),
        (r#"db_password = "q8#Lm2$vX9pR""#, Kind::SecretAssignment),
        (r#"{"apiKey": "Zx81kP0qLm3nBv7c"}"#, Kind::SecretAssignment),
        ("ticket ACME-123456 is confidential", Kind::UserPattern),
    ];
    for (text, kind) in cases {
        assert_eq!(kinds(text), vec![kind.clone()], "{text}");
    }
}

#[test]
fn placeholders_and_low_entropy_values_are_not_secrets() {
    for text in [
        r#"password = "changeme123""#,
        r#"api_key = "${OPENAI_API_KEY}""#,
        r#"token = "aaaaaaaaaaaa""#,
        r#"secret = "your-secret-here""#,
        "let token = get_token();",
        "sk-short",
    ] {
        assert_eq!(kinds(text), vec![], "{text}");
    }
}

#[test]
fn finds_personal_data_with_checksums() {
    let cases: Vec<(&str, Kind)> = vec![
        ("mail jane.doe@acme-corp.io today", Kind::Email),
        ("call +1 415 555 0132", Kind::Phone),
        ("call (415) 555-0132", Kind::Phone),
        ("card 4111 1111 1111 1111", Kind::CardNumber),
        ("card 5500-0000-0000-0004", Kind::CardNumber),
        ("IBAN DE89 3704 0044 0532 0130 00", Kind::Iban),
        ("GB82WEST12345698765432", Kind::Iban),
        ("ssn 123-45-6789", Kind::UsSsn),
    ];
    for (text, kind) in cases {
        assert_eq!(kinds(text), vec![kind.clone()], "{text}");
    }
}

#[test]
fn lookalikes_fail_their_checks() {
    for text in [
        "card 4111 1111 1111 1112",
        "id 1234567890123",
        "GB82 WEST 1234 5698 7654 33",
        "ssn 000-12-3456 and 666-12-3456 and 912-12-3456",
        "user@example.com and noreply@github.com and git@github.com",
        "version 1.2.3-4 and 2024-01-15",
        "let x = 123_456_789;",
    ] {
        assert_eq!(kinds(text), vec![], "{text}");
    }
}

#[test]
fn pii_detection_can_be_turned_off() {
    let s = Scanner::new(&ScannerConfig {
        detect_pii: false,
        ..ScannerConfig::default()
    })
    .unwrap();
    assert!(
        s.scan("jane.doe@acme-corp.io 4111 1111 1111 1111")
            .is_empty()
    );
    assert_eq!(s.scan("AKIAIOSFODNN7EXAMPLE").len(), 1);
}

#[test]
fn sensitive_paths_use_globs() {
    let s = scanner();
    for p in [
        ".env",
        ".env.local",
        "config/.env.production",
        "certs/server.pem",
        "id_rsa",
        "home/id_rsa.pub",
        "secrets/db.txt",
        "deploy/secrets/k8s.yaml",
    ] {
        assert!(s.is_sensitive_path(p), "{p}");
    }
    for p in ["src/main.rs", "environment.md", "docs/secrets.md"] {
        assert!(!s.is_sensitive_path(p), "{p}");
    }
}

#[test]
fn bad_user_patterns_are_named() {
    let err = Scanner::new(&ScannerConfig {
        patterns: vec!["(unclosed".into()],
        ..ScannerConfig::default()
    })
    .err()
    .unwrap();
    assert_eq!(err.pattern, "(unclosed");
}

#[test]
fn redaction_is_stable_and_reversible() {
    let s = scanner();
    let mut r = Redactor::default();
    let key = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t";
    let text = format!("use {key} and mail jane@acme-corp.io; again {key}");
    let redacted = r.redact(&s, &text);
    assert_eq!(
        redacted,
        "use [SECRET_1] and mail [EMAIL_1]; again [SECRET_1]"
    );
    assert_eq!(r.redact(&s, &format!("later: {key}")), "later: [SECRET_1]");
    assert_eq!(
        r.restore("set [SECRET_1] for [EMAIL_1]"),
        format!("set {key} for jane@acme-corp.io")
    );
    assert_eq!(r.len(), 2);
}

#[test]
fn requests_are_scanned_message_by_message_and_by_source() {
    let s = scanner();
    let mut request = ChatRequest {
        messages: vec![ChatMessage::user("plain task")],
        ..ChatRequest::default()
    };
    assert!(s.scan_request(&request).is_empty());
    request.messages.push(ChatMessage::tool_result(
        "1",
        "DB_TOKEN = \"Zx81kP0qLm3nBv7c\"",
    ));
    assert_eq!(s.scan_request(&request), vec![Kind::SecretAssignment]);
    request.sources = vec!["./.env".into()];
    assert_eq!(
        s.scan_request(&request),
        vec![Kind::SecretAssignment, Kind::SensitivePath]
    );
}

#[test]
fn entropy_of_simple_strings() {
    assert_eq!(entropy("aaaa"), 0.0);
    assert!((entropy("abcd") - 2.0).abs() < 1e-9);
    assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
}

/// A key body without its BEGIN line, as a partial read (lines 2..n) returns it.
fn key_lines(width: usize, lines: usize) -> String {
    // A deterministic pseudo-random base64 body (an LCG), the shape of real key material.
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..lines)
        .map(|_| {
            (0..width)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    B64[(x >> 58) as usize] as char
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn key_material_without_its_header_is_found() {
    let body = key_lines(64, 6);
    assert_eq!(kinds(&body), vec![Kind::PrivateKey], "PEM body");
    assert_eq!(
        kinds(&format!(
            "{}\n-----END RSA PRIVATE KEY-----\n",
            key_lines(70, 4)
        )),
        vec![Kind::PrivateKey],
        "OpenSSH body and the END line"
    );
    let numbered: String = body
        .lines()
        .enumerate()
        .map(|(i, l)| format!("{:>5}| {l}\n", i + 2))
        .collect();
    assert_eq!(
        kinds(&numbered),
        vec![Kind::PrivateKey],
        "read_file lines 2..n"
    );
    let grepped: String = body
        .lines()
        .enumerate()
        .map(|(i, l)| format!("keys/deploy:{}: {l}\n", i + 2))
        .collect();
    assert_eq!(kinds(&grepped), vec![Kind::PrivateKey], "grep output");
}

#[test]
fn unquoted_secrets_and_url_passwords_are_found() {
    for text in [
        "PASSWORD=Xk9#mP2$qLw7",
        "export GH_PAT=Zq8vN3kLm5Rt7Yw2",
        "db_password: Tr0ub4dor&3x",
        "MYSQL_PWD=aV3ry-S3cr3t-v4lue",
        "12| API_KEY=9f8e7d6c5b4a3f2e1d",
        "DATABASE_URL=postgres://app:pass@db.internal:5432/app",
        "redis://default:Hx72kLq9@cache:6379",
    ] {
        assert_eq!(
            kinds(text),
            vec![Kind::SecretAssignment],
            "should be found: {text}"
        );
    }
}

#[test]
fn ordinary_code_and_config_are_not_flagged() {
    let code = r#"
fn next_token(&mut self) -> Option<Token> {
    let token = self.lexer.next()?;
    password_hash = hash(password);
}
token: string;
password: required
api_key = os.environ["OPENAI_API_KEY"]
SECRET_KEY=settings.SECRET_KEY
DATABASE_URL=postgres://${DB_USER}:${DB_PASS}@db/app
url = "https://example.com/path?q=1"
secret_name: DB_PASSWORD
TOKEN_LIMIT=4096
const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
"#;
    assert_eq!(kinds(code), Vec::<Kind>::new());
    let hexes = (0..5)
        .map(|i| format!("{i:064x}"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        kinds(&hexes),
        Vec::<Kind>::new(),
        "hex digests are not keys"
    );
}

#[test]
fn a_text_is_scanned_once_and_again_when_new_secrets_are_remembered() {
    let s = Scanner::new(&ScannerConfig::default()).unwrap();
    let text = "deploy with tok_Zq9xLm2P7w and ghp_R8mK2vQ9xL4tN7pW1sZ6yB3cF5hJ0aD8eG2k";
    assert_eq!(s.kinds_in(text), vec![Kind::ServiceToken]);
    assert_eq!(s.kinds_in(text), vec![Kind::ServiceToken], "from the cache");
    // A value remembered later (a .env read after the text was first scanned) is found in the same text.
    s.remember("tok_Zq9xLm2P7w");
    let kinds = s.kinds_in(text);
    assert!(kinds.contains(&Kind::KnownSecret), "{kinds:?}");
    assert!(s.kinds_in("nothing here").is_empty());
}

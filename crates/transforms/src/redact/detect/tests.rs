//! The detectors' unit tests: true and false positives per detector, the
//! masks and tables against plain searches, and alignment-independence.

use super::number::lone_date;
use super::password::{SECRET_TAILS, secret_tail};
use super::trigger::{digit_mask, eq_mask, json_separator};
use super::*;

fn engine(detectors: &[Detector]) -> Engine {
    let list: Vec<(Detector, u16)> = detectors.iter().map(|d| (*d, d.index() as u16)).collect();
    Engine::new(&list, Vec::new()).unwrap()
}

/// The texts `d` finds in `text`.
fn finds(d: Detector, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    engine(&[d]).scan(text.as_bytes(), &mut out);
    out.iter()
        .map(|f| text[f.start as usize..f.end as usize].to_owned())
        .collect()
}

#[test]
fn masks_are_exact() {
    let x = u64::from_le_bytes(*b"a0/9:+z5");
    assert_eq!(digit_mask(x), 0x8000_0000_8000_8000);
    let all = u64::from_le_bytes(*b"/0123:9@");
    assert_eq!(digit_mask(all), 0x0080_0080_8080_8000);
}

#[test]
fn email_true_and_false_positives() {
    assert_eq!(
        finds(
            Detector::Email,
            "mail taro.yamada+jp@mail.example.co.jp now"
        ),
        ["taro.yamada+jp@mail.example.co.jp"]
    );
    assert_eq!(
        finds(Detector::Email, "\"email\":\"a_b@x-y.io\""),
        ["a_b@x-y.io"]
    );
    for fake in [
        "user@localhost",
        "@handle",
        "a@b",
        "x@1.2.3.4",
        "foo@bar.c",
        "name@example..com",
        "me@-x.com",
        "@@x.com",
        "a.@x.com",
    ] {
        assert_eq!(finds(Detector::Email, fake), Vec::<String>::new(), "{fake}");
    }
}

#[test]
fn ipv4_not_in_versions() {
    assert_eq!(
        finds(
            Detector::Ipv4,
            "from 192.168.1.10:8080 and http://10.0.0.1/x"
        ),
        ["192.168.1.10", "10.0.0.1"]
    );
    assert_eq!(finds(Detector::Ipv4, "ip=203.0.113.45."), ["203.0.113.45"]);
    for fake in [
        "1.2.3.4.5",
        "v10.0.0.1",
        "Chrome/126.0.0.0 Safari/537.36",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "3.14159",
        "version 1.2.3.4a",
    ] {
        assert_eq!(finds(Detector::Ipv4, fake), Vec::<String>::new(), "{fake}");
    }
}

#[test]
fn ipv6() {
    assert_eq!(
        finds(
            Detector::Ipv6,
            "src=2001:db8::8a2e:370:7334 dst=[fe80::1]:443 lo ::1"
        ),
        ["2001:db8::8a2e:370:7334", "fe80::1", "::1"]
    );
    assert_eq!(
        finds(Detector::Ipv6, "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ["2001:0db8:85a3:0000:0000:8a2e:0370:7334"]
    );
    for fake in [
        "10:30:45.123",
        "00:1a:2b:3c:4d:5e",
        "std::vector",
        "\"a\":1,\"b\":2",
        "Foo::Bar",
        "at 12:00",
    ] {
        assert_eq!(finds(Detector::Ipv6, fake), Vec::<String>::new(), "{fake}");
    }
}

#[test]
fn cards_need_luhn() {
    assert_eq!(
        finds(Detector::CreditCard, "card 4111 1111 1111 1111 exp"),
        ["4111 1111 1111 1111"]
    );
    assert_eq!(
        finds(Detector::CreditCard, "pan=5500-0000-0000-0004;"),
        ["5500-0000-0000-0004"]
    );
    assert_eq!(
        finds(Detector::CreditCard, "amex 378282246310005"),
        ["378282246310005"]
    );
    assert_eq!(
        finds(Detector::CreditCard, "order 12 4012888888881881"),
        ["4012888888881881"]
    );
    for fake in [
        "4111 1111 1111 1112",
        "trace_4111111111111111",
        "id=1234567890123456",
        "2025-08-20T10:30:45.123Z",
        "4111111111111111a",
        "0.4111111111111111",
    ] {
        assert_eq!(
            finds(Detector::CreditCard, fake),
            Vec::<String>::new(),
            "{fake}"
        );
    }
}

#[test]
fn phones_international_and_japanese() {
    assert_eq!(
        finds(
            Detector::Phone,
            "call +81 3-1234-5678 or +1 (415) 555-2671."
        ),
        ["+81 3-1234-5678", "+1 (415) 555-2671"]
    );
    assert_eq!(
        finds(
            Detector::Phone,
            "tel:090-1234-5678, office 03-1234-5678, free 0120-123-456"
        ),
        ["090-1234-5678", "03-1234-5678", "0120-123-456"]
    );
    assert_eq!(
        finds(Detector::Phone, "携帯 09012345678 です"),
        ["09012345678"]
    );
    assert_eq!(
        finds(Detector::Phone, "+33 1 23 45 67 89"),
        ["+33 1 23 45 67 89"]
    );
    for fake in [
        "2025-08-20",
        "order 0123456789",
        "12:30:45",
        "req_0901234567890",
        "v+1234",
        "0000-1234-5678",
    ] {
        assert_eq!(finds(Detector::Phone, fake), Vec::<String>::new(), "{fake}");
    }
}

#[test]
fn tokens_and_keys() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert_eq!(finds(Detector::Jwt, &format!("token {jwt} end")), [jwt]);
    assert_eq!(
        finds(Detector::Jwt, "eyJhbGciOiJIUzI1NiJ9 alone"),
        Vec::<String>::new()
    );
    assert_eq!(
        finds(Detector::AuthHeader, "Authorization: Bearer abcdef123456"),
        ["abcdef123456"]
    );
    assert_eq!(
        finds(Detector::AuthHeader, "authorization=Basic dXNlcjpwYXNz"),
        ["dXNlcjpwYXNz"]
    );
    assert_eq!(
        finds(Detector::AuthHeader, "basic idea, Bearer x"),
        Vec::<String>::new()
    );
    assert_eq!(
        finds(Detector::ApiKey, "key AKIAIOSFODNN7EXAMPLE used"),
        ["AKIAIOSFODNN7EXAMPLE"]
    );
    assert_eq!(
        finds(Detector::ApiKey, "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ["ghp_abcdefghijklmnopqrstuvwxyz0123456789"]
    );
    assert_eq!(
        finds(Detector::ApiKey, "AKIAshort, MYAKIAIOSFODNN7EXAMPLE"),
        Vec::<String>::new()
    );
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
    assert_eq!(finds(Detector::PrivateKey, &format!("k={pem} done")), [pem]);
    assert_eq!(
        finds(
            Detector::PrivateKey,
            "-----BEGIN PRIVATE KEY-----\nMIIE cut"
        ),
        ["-----BEGIN PRIVATE KEY-----\nMIIE cut"]
    );
    assert_eq!(
        finds(Detector::PrivateKey, "-----BEGIN CERTIFICATE-----\nMIIE"),
        Vec::<String>::new()
    );
}

#[test]
fn secret_pairs() {
    assert_eq!(
        finds(Detector::Password, "login password=hunter2 ok"),
        ["hunter2"]
    );
    assert_eq!(
        finds(Detector::Password, "db_password: 's3cr3t x' user"),
        ["s3cr3t x"]
    );
    assert_eq!(
        finds(Detector::Password, r#"{"apiKey":"k-123","n":1}"#),
        ["k-123"]
    );
    assert_eq!(finds(Detector::Password, "X-Api-Key=abc&q=1"), ["abc"]);
    assert_eq!(
        finds(Detector::Password, "tokenizer=bert passwords are long"),
        Vec::<String>::new()
    );
    assert!(
        secret_name(b"db_password") && secret_name(b"X-Api-Key") && secret_name(b"accessToken")
    );
    assert!(!secret_name(b"tokenizer") && !secret_name(b"max_tokens") && !secret_name(b"user"));
}

#[test]
fn custom_patterns_and_overlaps() {
    let e = Engine::new(
        &[(Detector::Email, 0), (Detector::Ipv4, 1)],
        vec![(Regex::new(r"CUST-\d{6}").unwrap(), 2)],
    )
    .unwrap();
    let mut out = Vec::new();
    e.scan(b"user a@b.io from 10.1.2.3 is CUST-123456", &mut out);
    let rules: Vec<u16> = out.iter().map(|f| f.rule).collect();
    assert_eq!(rules, [0, 1, 2]);
    out.clear();
    e.scan(b"nothing to see here", &mut out);
    assert!(out.is_empty());
}

#[test]
fn eq_mask_is_exact_per_lane() {
    for c in [b'.', b':', b'@'] {
        for v in 0..=255u8 {
            for lane in 0..8 {
                // The other lanes hold the neighbours most likely to leak a
                // borrow or carry: `c` itself, c ± 1, 0 and 0xFF.
                for fill in [c, c.wrapping_add(1), c.wrapping_sub(1), 0, 0xFF] {
                    let mut w = [fill; 8];
                    w[lane] = v;
                    let got = eq_mask(u64::from_le_bytes(w), c);
                    let want = w
                        .iter()
                        .enumerate()
                        .fold(0u64, |m, (k, b)| m | (u64::from(*b == c) << (8 * k + 7)));
                    assert_eq!(got, want, "{c} {v} {lane} {fill}");
                }
            }
        }
    }
}

#[test]
fn secret_tail_table_matches_the_list() {
    // Every 3-byte tail of printable ASCII: the hash table agrees with a
    // plain search of the list.
    for a in 0x20..0x80u8 {
        for b in 0x20..0x80u8 {
            for c in 0x20..0x80u8 {
                let lower = [a | 0x20, b | 0x20, c | 0x20];
                let want = SECRET_TAILS.iter().any(|t| **t == lower);
                assert_eq!(secret_tail([a, b, c]), want, "{:?}", [a, b, c]);
            }
        }
    }
}

#[test]
fn dates_are_not_numbers_to_redact() {
    for d in [Detector::Phone, Detector::CreditCard] {
        for text in [
            "2025-08-20",
            "2025-08-20T10:30:45.123Z",
            "{\"ts\":\"2025-08-20T10:30:45Z\"}",
            "on 2025-08-20, at 2025-08-21.",
        ] {
            assert_eq!(finds(d, text), Vec::<String>::new(), "{d:?} {text}");
        }
    }
    // A date joined to a number is still read with it.
    assert_eq!(
        finds(Detector::CreditCard, "2025-08-20 4111 1111 1111 1111"),
        ["4111 1111 1111 1111"]
    );
    assert_eq!(lone_date(b"x2025-08-20T", 1), Some(11));
    assert_eq!(lone_date(b"2025-08-20 4111", 0), None);
    assert_eq!(lone_date(b"+2025-08-20", 1), None);
    assert_eq!(lone_date(b"2025-08-2", 0), None);
}

#[test]
fn json_separators_are_not_triggers() {
    let line = r#"{"timestamp":"2025-08-20T10:30:45.123Z","dead":"beef","version":"1.1.0","a":1,"b":{"c":"d"}}"#;
    for d in [Detector::Ipv6, Detector::Password, Detector::Ipv4] {
        assert_eq!(finds(d, line), Vec::<String>::new(), "{d:?}");
    }
    assert!(json_separator(br#"{"level":"x"}"#, 8));
    assert!(!json_separator(br#"{"db_password":"x"}"#, 14));
    assert_eq!(
        finds(
            Detector::Password,
            r#"{"a":1,"db_password":"x","b":{"token": "y"}}"#
        ),
        ["x", "y"]
    );
    assert_eq!(
        finds(Detector::Ipv6, r#"{"ip":"fe80::1","b":"2001:db8::2"}"#),
        ["fe80::1", "2001:db8::2"]
    );
}

/// Every detector at every alignment to the eight-byte words, including
/// the last, partial one: the trigger pass reads words, so a value that
/// straddles a word boundary or ends the text must be found all the same.
#[test]
fn found_at_every_alignment() {
    let cases: [(Detector, &str); 10] = [
        (Detector::Email, "taro.yamada@example.co.jp"),
        (Detector::Ipv4, "192.168.1.10"),
        (Detector::Ipv6, "2001:db8::8a2e:370:7334"),
        (Detector::CreditCard, "4111111111111111"),
        (Detector::CreditCard, "4111 1111 1111 1111"),
        (Detector::Phone, "090-1234-5678"),
        (Detector::Phone, "+33 1 23 45 67 89"),
        (Detector::Password, "hunter2"),
        (Detector::Jwt, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"),
        (Detector::ApiKey, "AKIAIOSFODNN7EXAMPLE"),
    ];
    for (d, value) in cases {
        let shown = if d == Detector::Password {
            format!("password={value}")
        } else {
            value.to_owned()
        };
        // Across the 8-byte words and the 64-byte blocks of the trigger pass.
        for pad in (0..17).chain(50..70) {
            for tail in ["", " ", " end of the line"] {
                let text = format!("{}{shown}{tail}", " ".repeat(pad));
                assert_eq!(finds(d, &text), [value], "{d:?} {text:?}");
            }
        }
    }
}

#[test]
fn digit_runs_across_words_and_at_the_end() {
    // The four digits that start a number split 1+3, 2+2, 3+1 over two words.
    for split in 1..4 {
        let text = format!("{}4111111111111111", " ".repeat(8 - split));
        assert_eq!(
            finds(Detector::CreditCard, &text),
            ["4111111111111111"],
            "{text}"
        );
        let text = format!("{}4111111111111111", " ".repeat(64 - split));
        assert_eq!(
            finds(Detector::CreditCard, &text),
            ["4111111111111111"],
            "{text}"
        );
    }
    // A trigger in the last, partial word.
    assert_eq!(
        finds(Detector::Phone, "call 090-1234-5678"),
        ["090-1234-5678"]
    );
    assert_eq!(finds(Detector::Ipv4, "ip 1.2.3.4"), ["1.2.3.4"]);
    assert_eq!(finds(Detector::Email, "a@b.io"), ["a@b.io"]);
    assert_eq!(finds(Detector::Ipv4, "1.2.3.4"), ["1.2.3.4"]);
}

const PIECES: &[&str] = &[
    "0",
    "1",
    "4",
    "9",
    "12",
    "2025",
    "4111",
    "090",
    "03",
    "+",
    "+81",
    " ",
    "-",
    ".",
    ":",
    "::",
    "@",
    "=",
    "\"",
    "'",
    "(",
    ")",
    "_",
    "a",
    "f",
    "Z",
    "T",
    "password",
    "token",
    "api_key",
    "ion",
    "\":",
    "eyJ",
    "eyJhbGciOiJIUzI1NiJ9",
    "example",
    "co",
    "jp",
    "/",
    "192.168.1.1",
    "2001:db8::1",
    "fe80",
    "10:30:45",
    "2025-08-20",
    "Bearer ",
    "AKIA",
    "IOSFODNN7EXAMPLE",
    "4111 1111 1111 1111",
    "090-1234-5678",
    ",",
    "{",
    "}",
    "SK",
    "SK0123456789abcdef0123456789abcdef",
    "SG.",
    "://",
    "app:pw123456@db",
    "sig=",
    "AccountKey=",
    "01 23 45 67 89",
];

fn all_rules(text: &[u8]) -> Vec<Found> {
    let list: Vec<(Detector, u16)> = Detector::ALL
        .iter()
        .map(|d| (*d, d.index() as u16))
        .collect();
    let mut out = Vec::new();
    Engine::new(&list, Vec::new()).unwrap().scan(text, &mut out);
    out
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

    /// The block-wise trigger pass finds the same at every alignment: a
    /// text shifted by 1 to 69 neutral bytes (across a 64-byte block) gives
    /// the same findings, shifted.
    #[test]
    fn alignment_does_not_change_findings(
        pieces in proptest::collection::vec(0..PIECES.len(), 0..40),
        shift in 1usize..70,
    ) {
        let text: String = pieces.iter().map(|p| PIECES[*p]).collect();
        let base = all_rules(text.as_bytes());
        let shifted = all_rules(format!("{}{text}", ",".repeat(shift)).as_bytes());
        let s = shift as u32;
        let moved: Vec<Found> = base
            .iter()
            .map(|f| Found {
                start: f.start + s,
                end: f.end + s,
                key: f.key.map(|(x, y)| (x + s, y + s)),
                ..*f
            })
            .collect();
        proptest::prop_assert_eq!(shifted, moved, "{:?}", text);
    }
}

#[test]
fn url_credentials_any_scheme() {
    assert_eq!(
        finds(
            Detector::UrlCredentials,
            "dsn=postgres://app:S3cr3t@db.internal:5432/app redis://:pw123@cache:6379 amqp://guest:guest@mq/ https://example.com/a@b"
        ),
        ["app:S3cr3t", ":pw123", "guest:guest"]
    );
    // The same password elsewhere on the line goes too, and the e-mail
    // detector's reading of `S3cr3t@db.internal` loses to the rule order.
    let text = "connect postgres://app:S3cr3tPw@db.internal/app failed, password S3cr3tPw";
    let mut out = Vec::new();
    engine(&[Detector::Email, Detector::UrlCredentials]).scan(text.as_bytes(), &mut out);
    let got: Vec<(&str, u16)> = out
        .iter()
        .map(|f| (&text[f.start as usize..f.end as usize], f.rule))
        .collect();
    let url = Detector::UrlCredentials.index() as u16;
    assert_eq!(got, [("app:S3cr3tPw@db.internal", url), ("S3cr3tPw", url)]);
}

#[test]
fn phones_national_formats() {
    for (text, want) in [
        ("tel 090-1234-5678.", "090-1234-5678"),
        ("tel (415) 555-2671 x", "(415) 555-2671"),
        ("tel 415.555.2671 x", "415.555.2671"),
        ("tel 020 7946 0958 x", "020 7946 0958"),
        ("tel 030 12345678 x", "030 12345678"),
        ("tel 01 42 68 53 00 x", "01 42 68 53 00"),
        ("tel 06 12 34 56 78 x", "06 12 34 56 78"),
        ("tel 98765 43210 x", "98765 43210"),
        ("tel 138 0013 8000 x", "138 0013 8000"),
        ("tel 010-1234-5678 x", "010-1234-5678"),
        ("tel (11) 91234-5678 x", "(11) 91234-5678"),
        ("tel +33 1 42 68 53 00 x", "+33 1 42 68 53 00"),
        ("tel +49 30 12345678 x", "+49 30 12345678"),
    ] {
        assert_eq!(finds(Detector::Phone, text), [want], "{text}");
    }
    for fake in [
        "2025-08-20 10:30:00",
        "at 2025-08-20, 10:30",
        "ip 192.168.1.10 x",
        "v 1.2.3-4567.89",
        "order 4111-1111-1111-1112",
        "ts 1755685800000",
        "id 550e8400-e29b-41d4-a716-446655440000",
        "took 1234 ms, 5678 rows",
    ] {
        assert_eq!(finds(Detector::Phone, fake), Vec::<String>::new(), "{fake}");
    }
}

#[test]
fn national_identifiers_with_check_rules() {
    assert_eq!(finds(Detector::UsSsn, "ssn 536-90-4399 x"), ["536-90-4399"]);
    for fake in [
        "666-12-3456",
        "000-12-3456",
        "123-00-4567",
        "900-12-3456",
        "12-345-6789",
    ] {
        assert_eq!(finds(Detector::UsSsn, fake), Vec::<String>::new(), "{fake}");
    }
    // 12345678901 → check digit 8.
    assert_eq!(
        finds(
            Detector::JpMyNumber,
            "mynumber 123456789018 and 1234 5678 9018"
        ),
        ["123456789018", "1234 5678 9018"]
    );
    assert_eq!(
        finds(Detector::JpMyNumber, "123456789012"),
        Vec::<String>::new()
    );
    assert_eq!(
        finds(
            Detector::Iban,
            "iban GB82WEST12345698765432 or DE89 3704 0044 0532 0130 00."
        ),
        ["GB82WEST12345698765432", "DE89 3704 0044 0532 0130 00"]
    );
    assert_eq!(
        finds(Detector::Iban, "GB82WEST12345698765433"),
        Vec::<String>::new()
    );
}

#[test]
fn card_brands_and_separators() {
    for card in [
        "4111111111111111",
        "4111.1111.1111.1111",
        "5555-5555-5555-4444",
        "3782 822463 10005",
        "6011111111111117",
        "3530111333300000",
        "2223003122003222",
    ] {
        assert_eq!(finds(Detector::CreditCard, card), [card], "{card}");
    }
    // Luhn-valid but of no brand's range or length.
    for fake in ["1234567812345670", "9111111111111111", "41111111111111111"] {
        assert_eq!(
            finds(Detector::CreditCard, fake),
            Vec::<String>::new(),
            "{fake}"
        );
    }
}

#[test]
fn tokens_in_the_documented_formats() {
    for (text, want) in [
        (
            "xoxb-1234567890-abcdefghijkl",
            "xoxb-1234567890-abcdefghijkl",
        ),
        (
            "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx",
            "T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx",
        ),
        (
            "https://hooks.example.net/services/T000/B000/XXXX",
            "T000/B000/XXXX",
        ),
        ("glpat-abcdefghij0123456789", "glpat-abcdefghij0123456789"),
        ("whsec_abcdefghijklmnop0123", "whsec_abcdefghijklmnop0123"),
        (
            "npm_abcdefghijklmnopqrstuvwxyz0123456789",
            "npm_abcdefghijklmnopqrstuvwxyz0123456789",
        ),
        (
            "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz01234567890123456",
            "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz01234567890123456",
        ),
        (
            "SK0123456789abcdef0123456789abcdef",
            "SK0123456789abcdef0123456789abcdef",
        ),
        (
            "GOCSPX-abcdefghijklmnopqrstuvwxyz12",
            "GOCSPX-abcdefghijklmnopqrstuvwxyz12",
        ),
        (
            "?sv=2022-11-02&sig=abcdefghijklmnopqrstuvwxyz0123%2B%3D x",
            "abcdefghijklmnopqrstuvwxyz0123%2B%3D",
        ),
    ] {
        assert_eq!(finds(Detector::ApiKey, text), [want], "{text}");
    }
    assert_eq!(
        finds(Detector::ApiKey, "TASK0123456789abcdef0123456789abcdef"),
        Vec::<String>::new()
    );
}

#[test]
fn generic_secrets_need_entropy() {
    assert_eq!(
        finds(
            Detector::GenericSecret,
            "signing_key=q8Xz2LmN4vB7tR1yK9wE3sD6"
        ),
        ["q8Xz2LmN4vB7tR1yK9wE3sD6"]
    );
    for fake in [
        "cache_key=user_profile_1234567",
        "sort_key=aaaaaaaaaaaaaaaa1",
        "primary_key=42",
    ] {
        assert_eq!(
            finds(Detector::GenericSecret, fake),
            Vec::<String>::new(),
            "{fake}"
        );
    }
}

#[test]
fn emails_idn_and_ip_forms() {
    assert_eq!(
        finds(
            Detector::Email,
            "to jiro+test@例え.jp and 連絡先taro@example.jpです"
        ),
        ["jiro+test@例え.jp", "taro@example.jp"]
    );
    assert_eq!(
        finds(Detector::Ipv6, "from fe80::1%eth0 and ::ffff:10.0.0.1 x"),
        ["fe80::1%eth0", "::ffff:10.0.0.1"]
    );
}

#[test]
fn precedence_lists_every_detector_once() {
    for d in Detector::ALL {
        assert_eq!(
            Detector::PRECEDENCE.iter().filter(|p| **p == d).count(),
            1,
            "{d:?}"
        );
    }
}

#[test]
fn overlaps_go_to_the_earlier_rule_whatever_the_discovery_order() {
    // The e-mail detector reads `pw12345@db.internal`; the URL credential wins.
    let text = "dsn mysql://app:pw12345@db.internal/x";
    let mut out = Vec::new();
    engine(&[Detector::Email, Detector::UrlCredentials]).scan(text.as_bytes(), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule, Detector::UrlCredentials.index() as u16);
    // `::ffff:10.0.0.1` is IPv6 though the IPv4 detector also reads its tail.
    let text = "from ::ffff:10.0.0.1 x";
    let mut out = Vec::new();
    engine(&[Detector::Ipv4, Detector::Ipv6]).scan(text.as_bytes(), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].rule, Detector::Ipv6.index() as u16);
    // An IBAN is an IBAN, even when its digit groups pass for a card.
    for text in ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"] {
        let mut out = Vec::new();
        engine(&[Detector::CreditCard, Detector::Iban, Detector::Phone])
            .scan(text.as_bytes(), &mut out);
        assert_eq!(out.len(), 1, "{text}");
        assert_eq!(out[0].rule, Detector::Iban.index() as u16, "{text}");
    }
}

#[test]
fn findings_widen_over_invalid_bytes() {
    let text = b"to taro@mail.ex\xb8ample.net and ta\xb8ro@example.jp";
    let mut out = Vec::new();
    engine(&[Detector::Email]).scan(text, &mut out);
    let got: Vec<&[u8]> = out
        .iter()
        .map(|f| &text[f.start as usize..f.end as usize])
        .collect();
    assert_eq!(
        got,
        [
            &b"taro@mail.ex\xb8ample.net"[..],
            &b"ta\xb8ro@example.jp"[..]
        ]
    );
}

#[test]
fn literal_anchors_keep_teddy_slim() {
    // At most 32 patterns of three bytes or more: Aho-Corasick's slim Teddy
    // with three-byte masks (see `literal::Anchor`).
    assert!(literal::LITERALS.len() <= 32, "{}", literal::LITERALS.len());
    for (lit, _, _) in literal::LITERALS {
        assert!(lit.len() >= 3, "{lit}");
    }
}

#[test]
fn every_spelling_of_an_anchored_literal_is_found() {
    for (d, text, want) in [
        (Detector::AuthHeader, "Bearer abcdefgh12", "abcdefgh12"),
        (Detector::AuthHeader, "bearer abcdefgh12", "abcdefgh12"),
        (Detector::AuthHeader, "BEARER abcdefgh12", "abcdefgh12"),
        (Detector::AuthHeader, "Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (Detector::AuthHeader, "basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (Detector::AuthHeader, "BASIC dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        (
            Detector::ApiKey,
            "k sk_live_abcdefghij012345 x",
            "sk_live_abcdefghij012345",
        ),
        (
            Detector::ApiKey,
            "k rk_live_abcdefghij012345 x",
            "rk_live_abcdefghij012345",
        ),
        (
            Detector::ApiKey,
            "k sk_test_abcdefghij012345 x",
            "sk_test_abcdefghij012345",
        ),
        (
            Detector::ApiKey,
            "k rk_test_abcdefghij012345 x",
            "rk_test_abcdefghij012345",
        ),
        (
            Detector::ApiKey,
            "t glptt-abcdefghij0123456789 x",
            "glptt-abcdefghij0123456789",
        ),
        (
            Detector::ApiKey,
            "t glpat-abcdefghij0123456789 x",
            "glpat-abcdefghij0123456789",
        ),
        (
            Detector::ApiKey,
            "AccountName=x;AccountKey=abcdefghijklmnopqrstuvwxyz0123456789ABCDEF==;",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF==",
        ),
        (
            Detector::UrlCredentials,
            "a=https://app:S3cr3t@db/x",
            "app:S3cr3t",
        ),
    ] {
        let got = finds(d, text);
        assert!(got.contains(&want.to_owned()), "{text}: {got:?}");
    }
    // Near misses of the anchors: not the literal they stand for.
    for (d, text) in [
        (Detector::AuthHeader, "cearer abcdefgh12"),
        (Detector::AuthHeader, "bEARER abcdefgh12"),
        (Detector::ApiKey, "k tk_live_abcdefghij012345 x"),
        (Detector::ApiKey, "t glpxx-abcdefghij0123456789 x"),
        (Detector::ApiKey, "SKIP this SG line"),
        (Detector::UrlCredentials, "a: b:/ c:/x@y"),
    ] {
        assert_eq!(finds(d, text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn literals_of_the_trigger_pass_at_every_alignment() {
    // `SK`/`SG.` are found by the word-at-a-time pass and `://` at its `:`s:
    // each straddling a word boundary too.
    let cases = [
        (
            Detector::ApiKey,
            "SK0123456789abcdef0123456789abcdef",
            "SK0123456789abcdef0123456789abcdef",
        ),
        (
            Detector::ApiKey,
            "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz01234567890123456",
            "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz01234567890123456",
        ),
        (
            Detector::UrlCredentials,
            "redis://:pw123456@cache:6379",
            ":pw123456",
        ),
    ];
    for (d, text, want) in cases {
        for pad in 0..17 {
            let line = format!("{} {text} end", "x".repeat(pad));
            let got = finds(d, &line);
            assert!(got.contains(&want.to_owned()), "{line}: {got:?}");
        }
    }
}

#[test]
fn a_pair_does_not_hide_the_literals_in_its_value() {
    // The URL's credentials and Azure's key win the overlap with the
    // `password` pair around them (rule order), as when they were found by
    // their own pass.
    let all = engine(&Detector::ALL);
    for (text, rule, inner) in [
        (
            r#"{"secret":"postgres://app:S3cr3tPw@db/x"}"#,
            Detector::UrlCredentials,
            "app:S3cr3tPw",
        ),
        (
            "secret=AccountKey=abcdefghijklmnopqrstuvwxyz0123456789ABCDEF==",
            Detector::ApiKey,
            "AccountKey",
        ),
    ] {
        let mut out = Vec::new();
        all.scan(text.as_bytes(), &mut out);
        let at = text.find(inner).unwrap() as u32;
        let f = out
            .iter()
            .find(|f| f.start <= at && at < f.end)
            .unwrap_or_else(|| panic!("{text}: {out:?}"));
        assert_eq!(f.rule, rule.index() as u16, "{text}: {out:?}");
    }
}

#[test]
fn numbers_without_eight_digits_or_dotted_quads_are_skipped() {
    // The shortcut before the number detectors changes nothing they find.
    let all = engine(&Detector::ALL);
    for text in [
        "from 192.168.100.200 to 10.20.30.40",
        "ip 255.255.255.255 and 1.22.333.44",
        "order 12.345.678",
    ] {
        let mut out = Vec::new();
        all.scan(text.as_bytes(), &mut out);
        for f in &out {
            assert_eq!(f.rule, Detector::Ipv4.index() as u16, "{text}: {out:?}");
        }
    }
    // Eight digits or more, not a quad: still looked at.
    assert_eq!(
        finds(Detector::Phone, "tel 03.1234.5678 ok"),
        ["03.1234.5678"]
    );
    assert_eq!(
        finds(Detector::UsSsn, "ssn 123-45-6789 ok"),
        ["123-45-6789"]
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

    /// The byte classes of a block, from SSE2 (on x86-64), from 64-bit word
    /// arithmetic and byte by byte, are the same.
    #[test]
    fn block_classes_agree(
        bytes in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"0123456789.:@S -/+aZ\x00\x7f\x80\xb0\xb9\xff".to_vec()),
                proptest::prelude::any::<u8>(),
            ],
            64,
        ),
    ) {
        let b = <[u8; 64]>::try_from(bytes.as_slice()).unwrap();
        let want = blocks::block_bytes(&b);
        proptest::prop_assert_eq!(blocks::block(&b), want);
        proptest::prop_assert_eq!(blocks::block_words(&b), want);
    }
}

/// The texts every detector together finds in `text`.
fn finds_all(text: &str) -> Vec<String> {
    all_rules(text.as_bytes())
        .iter()
        .map(|f| text[f.start as usize..f.end as usize].to_owned())
        .collect()
}

#[test]
fn ipv4_after_a_slash_that_starts_a_host() {
    assert_eq!(
        finds(
            Detector::Ipv4,
            "java.net.ConnectException: Connection refused: /115.33.124.69:3306"
        ),
        ["115.33.124.69"]
    );
    assert_eq!(finds(Detector::Ipv4, "/10.1.2.3"), ["10.1.2.3"]);
    // Still a product version after a name.
    assert_eq!(
        finds(Detector::Ipv4, "Chrome/126.0.0.0"),
        Vec::<String>::new()
    );
}

#[test]
fn numbers_in_parentheses_at_the_start_of_a_string() {
    assert_eq!(finds_all("(556-74-8675)"), ["556-74-8675"]);
    assert_eq!(finds_all("(556-74-8675) was used"), ["556-74-8675"]);
    assert_eq!(finds_all("ssn (556-74-8675)"), ["556-74-8675"]);
    assert_eq!(finds_all("(5533.2829.6730.0616)"), ["5533.2829.6730.0616"]);
    assert_eq!(
        finds_all("(4847-9097-3271-2774-983)"),
        ["4847-9097-3271-2774-983"]
    );
    assert_eq!(finds_all("(524156816220)"), ["524156816220"]);
    assert_eq!(
        finds_all("(6240296480037338772) #12694"),
        ["6240296480037338772"]
    );
    assert_eq!(finds_all("(4797503772482)"), ["4797503772482"]);
    assert_eq!(finds_all("(1290 9493 4497)"), ["1290 9493 4497"]);
}

#[test]
fn base64_secret_with_slash_or_plus_under_a_key_name() {
    for v in [
        "yeeRmC9/RTTNFDorrZk2Qx+0pLmW7vBz4aYcJ1sE",
        "abcdefGHIJ2Lmnop/qrstUVWXyz+abcdefGHIJKL",
    ] {
        let line = format!(r#"{{"encryption_key": "{v}"}}"#);
        assert_eq!(finds_all(&line), [v], "{line}");
        // PHP's JSON escapes the slashes: the raw value is found whole.
        let escaped = v.replace('/', "\\/");
        let line = format!(r#"{{"encryption_key": "{escaped}"}}"#);
        assert_eq!(finds_all(&line), [escaped.as_str()], "{line}");
        let line = format!("encryption_key={v} ok");
        assert_eq!(finds_all(&line), [v], "{line}");
    }
}

#[test]
fn ipv6_followed_by_a_colon() {
    assert_eq!(
        finds(
            Detector::Ipv6,
            "f719:af11:20bb:3811:2fb7:7ff3:aebe:2589: rejected"
        ),
        ["f719:af11:20bb:3811:2fb7:7ff3:aebe:2589"]
    );
    assert_eq!(
        finds(Detector::Ipv6, "peer 2001:db8::1: reset"),
        ["2001:db8::1"]
    );
}

#[test]
fn yes_no_after_password_is_not_a_secret() {
    assert_eq!(
        finds_all(
            "PHP Warning: mysqli_connect(): (HY000/1045): Access denied for user 'app'@'10.0.0.5' (using password: YES) in /var/www/html/db.php:12"
        ),
        ["10.0.0.5"]
    );
    for v in ["NO", "yes", "true", "False", "null", "None", "-", "n/a"] {
        let line = format!("password: {v} ok");
        assert_eq!(
            finds(Detector::Password, &line),
            Vec::<String>::new(),
            "{line}"
        );
    }
    assert_eq!(finds(Detector::Password, "password: YESx1 ok"), ["YESx1"]);
    // A JSON member named like a secret still loses whatever value it has.
    assert_eq!(finds(Detector::Password, r#"{"password":"no"}"#), ["no"]);
}

#[test]
fn a_uuid_group_is_no_my_number() {
    assert_eq!(
        finds_all("req 0f8e3c2a-1b4d-4e6f-9a7b-103876941620 done"),
        Vec::<String>::new()
    );
    assert_eq!(
        finds(Detector::JpMyNumber, "id=deadbeef-103876941620"),
        Vec::<String>::new()
    );
}

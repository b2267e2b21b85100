"""Held-out corpus for `scripts/pii-eval --corpus holdout`.

Written apart from the detectors and from pii-eval's own corpus: what a value
should be caught as comes only from the README's redact section (what each
detector is documented to cover) and from issue 20, never from the detector
code. Its templates are log shapes seen in the wild (nginx/Apache access lines
with query strings, Java/Python exceptions quoting values, SQL with literals,
Kubernetes events, logfmt, syslog, HTTP header dumps, nested JSON with arrays
and escaped strings, URLs/DSNs of many schemes), with values at the start and
end of strings, next to punctuation, repeated, and among Japanese/accented
text; and look-alikes that must survive.

`HoldoutGen(seed).line(i)` returns what pii-eval's scorer takes:
`(text, [(detector, value, masks)], [look-alikes])`. A JSON line carries its
number in `eval_id`; a text line carries ` #N` at its end (so a value can
start a line; JSON string values both start and end with one).

Ground truth follows pii-eval's rules: phone numbers are valid for their region
by libphonenumber and written with a separator or `+`; cards are of a brand's
IIN range and length and pass Luhn. Values planted in a form the README does
not document (e.g. `pwd=` query parameters, SSNs with spaces, My Numbers with
dashes) are labelled `undoc:<what>`: pii-eval prints them in their own rows and
leaves them out of the overall figure.
"""

import base64
import hashlib
import ipaddress
import json
import random
import string
import urllib.parse

from faker import Faker
import phonenumbers

# Its own seed stream: never the same draws as pii-eval's corpus for a seed.
SEED_SALT = 0x5EED_40D0

LOCALES = {
    "ja_JP": "JP", "en_US": "US", "en_CA": "CA", "en_GB": "GB", "de_DE": "DE",
    "fr_FR": "FR", "en_IN": "IN", "zh_CN": "CN", "ko_KR": "KR", "pt_BR": "BR",
}

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64URL = ALNUM + "-_"
UPPER_ALNUM = string.ascii_uppercase + string.digits

# IBAN lengths per country (ISO 13616 registry) for the countries planted.
IBAN_LEN = {"DE": 22, "FR": 27, "GB": 22, "ES": 24, "IT": 27, "NL": 18, "BE": 16,
            "CH": 21, "AT": 20, "PT": 25, "BR": 29, "PL": 28, "SE": 24, "IE": 22}

JP_TEXT = ["ユーザー登録が完了しました", "ログインに失敗しました", "決済エラー", "送信先",
           "お問い合わせありがとうございます", "請求書を送付しました", "パスワード再設定"]
ACCENT_TEXT = ["Connexion refusée pour", "Übermittlung fehlgeschlagen an", "Pedido concluído por",
               "Réinitialisation demandée par", "Zahlung für", "envío a"]


def luhn_ok(digits):
    s = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        s += d
    return s % 10 == 0


def luhn_complete(prefix_body):
    for c in "0123456789":
        if luhn_ok(prefix_body + c):
            return prefix_body + c
    raise AssertionError


def my_number_check(d11):
    """JP My Number check digit (Cabinet Office ordinance): weights 2..7,2..6 from the right."""
    s = 0
    for n in range(1, 12):
        p = int(d11[11 - n])
        q = n + 1 if n <= 6 else n - 5
        s += p * q
    r = s % 11
    return 0 if r <= 1 else 11 - r


def iban_ok(iban):
    s = iban[4:] + iban[:4]
    num = "".join(str(int(c, 36)) for c in s)
    return int(num) % 97 == 1


class HoldoutGen:
    def __init__(self, seed):
        self.r = random.Random(seed ^ SEED_SALT)
        self.f = {}
        for i, loc in enumerate(LOCALES):
            fk = Faker(loc)
            fk.seed_instance((seed ^ SEED_SALT) + 101 * i)
            self.f[loc] = fk
        self.en = self.f["en_US"]
        self.plants = None

    # ---- helpers --------------------------------------------------------------

    def pick(self, xs):
        return self.r.choice(xs)

    def rand(self, alphabet, n):
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def chance(self, p):
        return self.r.random() < p

    def P(self, det, value, masks=1):
        """Record a planted value (written `masks` times on the line) and return it."""
        self.plants.append((det, value, masks))
        return value

    def fk(self):
        return self.f[self.pick(list(self.f))]

    # ---- look-alikes (must survive) ---------------------------------------------

    def L(self, value):
        self.looks.append(value)
        return value

    def uuid(self):
        return self.L("%08x-%04x-4%03x-%04x-%012x" % (self.r.getrandbits(32), self.r.getrandbits(16),
                                                    self.r.getrandbits(12), 0x8000 | self.r.getrandbits(14),
                                                    self.r.getrandbits(48)))

    def git_sha(self, short=False):
        return self.L(self.rand(HEX, 7 if short else 40))

    def sha256(self):
        return self.L(hashlib.sha256(self.rand(ALNUM, 20).encode()).hexdigest())

    def version(self):
        return self.L(self.pick([
            f"{self.r.randrange(0, 30)}.{self.r.randrange(0, 40)}.{self.r.randrange(0, 200)}",
            f"v{self.r.randrange(1, 5)}.{self.r.randrange(0, 30)}.{self.r.randrange(0, 20)}-rc.{self.r.randrange(1, 9)}",
            f"{self.r.randrange(1, 4)}.{self.r.randrange(0, 12)}.{self.r.randrange(0, 30)}.{self.r.randrange(1000, 9999)}",
            f"{self.r.randrange(2019, 2026)}.{self.r.randrange(1, 12)}.{self.r.randrange(1, 28)}",
        ]))

    def duration(self):
        return self.L(self.pick([f"{self.r.randrange(1, 999)}ms", f"{self.r.randrange(1, 59)}m{self.r.randrange(1, 59)}s",
                                 f"{self.r.random() * 10:.3f}s", f"{self.r.randrange(100, 99999)}µs"]))

    def order_id(self):
        """16 digits with a brand prefix that fail Luhn."""
        while True:
            d = self.pick(["4", "51", "37", "6011", "35"]) + self.rand("0123456789", 14)
            d = d[:16]
            if not luhn_ok(d):
                sep = self.pick(["", "", "-", " "])
                return self.L(sep.join(d[i:i + 4] for i in range(0, 16, 4)) if sep else d)

    def k8s_name(self):
        base = self.pick(["checkout", "payments-api", "auth", "ingest-worker", "redis-cache", "web"])
        return self.L(f"{base}-{self.rand('bcdfghjklmnpqrstvwxz2456789', 10)}-{self.rand('bcdfghjklmnpqrstvwxz2456789', 5)}")

    def trace_id(self):
        return self.L(self.rand(HEX, 32))

    def short_b64(self):
        raw = self.pick(['{"page":2}', "hello world", "cursor:1234", '{"offset":40,"limit":20}', "v=1;t=abc"])
        return self.L(base64.b64encode(raw.encode()).decode())

    def port(self):
        return str(self.pick([80, 443, 5432, 3306, 6379, 5672, 8080, 9200, 27017, 11211]))

    def ts(self):
        return f"2025-{self.r.randrange(1, 12):02d}-{self.r.randrange(1, 28):02d}T{self.r.randrange(0, 23):02d}:{self.r.randrange(0, 59):02d}:{self.r.randrange(0, 59):02d}.{self.r.randrange(0, 999999):06d}Z"

    def any_look(self):
        return self.pick([self.uuid, self.git_sha, lambda: self.git_sha(True), self.sha256, self.version,
                          self.duration, self.order_id, self.k8s_name, self.trace_id, self.short_b64])()

    # ---- planted values -----------------------------------------------------------

    def email(self):
        fk = self.fk()
        user = self.pick([self.en.user_name(), self.en.first_name().lower() + "." + self.en.last_name().lower(),
                          self.en.user_name() + str(self.r.randrange(1, 99))])
        user = "".join(c for c in user if c.isalnum() or c in "._-") or "user"
        k = self.r.random()
        if k < 0.25:
            user += "+" + self.pick(["alerts", "shop", "2fa", "dev", "test1"])
        if k > 0.8:
            domain = self.pick(["例え.jp", "日本語.jp", "bücher.de", "müller-bau.de", "café.fr", "пример.рф",
                                "xn--wgv71a119e.jp", "xn--mller-kva.de", "한국.kr"])
        elif k > 0.75:
            user = self.pick(["jürgen", "josé.garcía", "たろう"])
            domain = self.pick(["example.de", "mail.example.com", "例え.jp"])
        else:
            domain = self.pick([fk.free_email_domain(), self.en.domain_name(), "mail." + self.en.domain_name(),
                                "corp.example.co.uk", "example.com.br"])
        return self.P("email", f"{user}@{domain}")

    def ipv4(self):
        return self.P("ipv4", self.en.ipv4_public() if self.chance(0.7) else self.en.ipv4_private())

    def ipv6(self, bracket=False):
        k = self.r.random()
        if k < 0.2:
            v = "::ffff:" + self.en.ipv4_public()
        elif k < 0.35:
            v = f"fe80::{self.rand(HEX, 4).lstrip('0') or '1'}:{self.rand(HEX, 2)}ff:fe{self.rand(HEX, 2)}:{self.rand(HEX, 4)}%{self.pick(['eth0', 'ens5', 'wlan0', 'en0'])}"
        else:
            a = ipaddress.IPv6Address(self.en.ipv6())
            v = a.compressed if self.chance(0.8) else a.exploded
            if self.chance(0.2):
                v = v.upper()
        return self.P("ipv6", v)

    def ip(self):
        return self.ipv4() if self.chance(0.7) else self.ipv6()

    def card(self):
        brand = self.pick(["visa16", "visa13", "visa19", "mc5", "mc2", "amex", "discover", "diners", "jcb", "unionpay"])
        prefix, length = {
            "visa16": ("4", 16), "visa13": ("4", 13), "visa19": ("4", 19),
            "mc5": (str(self.r.randrange(51, 56)), 16), "mc2": (str(self.r.randrange(2221, 2721)), 16),
            "amex": (self.pick(["34", "37"]), 15), "discover": (self.pick(["6011", "65", str(self.r.randrange(644, 650))]), 16),
            "diners": (self.pick(["36", "38", str(self.r.randrange(300, 306))]), 14),
            "jcb": (str(self.r.randrange(3528, 3590)), 16), "unionpay": ("62", self.pick([16, 19])),
        }[brand]
        d = luhn_complete(prefix + self.rand("0123456789", length - len(prefix) - 1))
        sep = self.pick(["", " ", " ", "-", "-", "."])
        if sep:
            if length == 15:
                g = [d[:4], d[4:10], d[10:]]
            elif length == 13:
                g = [d[:4], d[4:8], d[8:]]
            elif length == 14:
                g = [d[:4], d[4:10], d[10:]]
            else:
                g = [d[i:i + 4] for i in range(0, length, 4)]
            d = sep.join(g)
        return self.P("credit_card", d)

    def phone(self):
        for _ in range(60):
            loc = self.pick(list(self.f))
            region = LOCALES[loc]
            raw = self.f[loc].phone_number()
            if "x" in raw.lower():
                continue
            try:
                p = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(p):
                continue
            k = self.r.random()
            if k < 0.3:
                num = phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.NATIONAL)
            elif k < 0.55:
                num = phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            elif k < 0.7:
                num = phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)
            else:
                num = raw.strip()
            if num.startswith("+") or any(c in num for c in " -.()"):
                return self.P("phone", num)
        return self.P("phone", "+44 20 7946 0958")

    def ssn(self):
        while True:
            area = self.r.randrange(1, 900)
            if area != 666:
                break
        v = f"{area:03d}-{self.r.randrange(1, 100):02d}-{self.r.randrange(1, 10000):04d}"
        if self.chance(0.08):
            return self.P("undoc:ssn_spaces", v.replace("-", " "))
        return self.P("us_ssn", v)

    def my_number(self):
        d11 = self.rand("0123456789", 11)
        d = d11 + str(my_number_check(d11))
        k = self.r.random()
        if k < 0.45:
            return self.P("jp_my_number", f"{d[:4]} {d[4:8]} {d[8:]}")
        if k < 0.9:
            return self.P("jp_my_number", d)
        return self.P("undoc:my_number_dashes", f"{d[:4]}-{d[4:8]}-{d[8:]}")

    def iban(self):
        for _ in range(20):
            cc = self.pick(list(IBAN_LEN))
            body = "".join(self.r.choice(string.digits if cc not in ("GB", "NL", "IE") or i >= 4 else string.ascii_uppercase)
                           for i in range(IBAN_LEN[cc] - 4))
            # check digits: 98 - (BBAN + CC + "00") mod 97
            num = "".join(str(int(c, 36)) for c in body + cc + "00")
            iban = f"{cc}{98 - int(num) % 97:02d}{body}"
            if iban_ok(iban) and len(iban) == IBAN_LEN[cc]:
                if self.chance(0.5):
                    iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
                return self.P("iban", iban)
        raise AssertionError

    def pw(self):
        k = self.r.random()
        if k < 0.4:
            return self.en.password(length=self.r.randrange(10, 24), special_chars=False)
        if k < 0.7:
            return self.rand(ALNUM, self.r.randrange(12, 32))
        return self.pick(["Summer", "Tokyo", "Winter", "Passw0rd", "Kennwort", "motdepasse"]) + str(self.r.randrange(1000, 99999)) + self.pick(["!", "#", "$", "", "?"])

    def url_pw(self):
        """A password as written in a URL userinfo: alphanumerics plus percent-encoded specials."""
        p = self.rand(ALNUM, self.r.randrange(10, 24))
        if self.chance(0.3):
            i = self.r.randrange(1, len(p))
            p = p[:i] + urllib.parse.quote(self.pick(["@", "#", "/", ":", "!"]), safe="") + p[i:]
        return p

    def user(self):
        return self.pick(["app", "svc_billing", "admin", "reporting", "etl", "rabbit", "deploy", self.en.user_name()])

    def dsn(self):
        """A URL/DSN with userinfo; the password is the planted value."""
        pw = self.P("url_credentials", self.url_pw())
        u = self.user()
        host = self.pick(["db.internal", "10-0-3-7.pg.svc.cluster.local", "cluster0.ab1cd.mongodb.net",
                          "cache.prod.example.net", "mq.example.org", "files.example.com"])
        scheme = self.pick(["postgres", "postgresql", "mysql", "mongodb+srv", "mongodb", "redis", "rediss", "amqp",
                            "amqps", "https", "http", "ftp", "sftp", "mssql", "clickhouse"])
        if scheme in ("redis", "rediss") and self.chance(0.5):
            return f"{scheme}://:{pw}@{host}:{self.port()}/{self.r.randrange(0, 15)}"
        if scheme == "mongodb+srv":
            return f"mongodb+srv://{u}:{pw}@{host}/{self.pick(['orders', 'admin'])}?retryWrites=true&w=majority"
        tail = self.pick(["/app", f":{self.port()}/app?sslmode=require", "/%2Fvhost", "/pub/export.csv", ""])
        return f"{scheme}://{u}:{pw}@{host}{tail}"

    def token(self):
        k = self.pick(["slack_bot", "slack_user", "slack_app", "slack_hook", "gh", "gh_pat", "gl", "stripe", "stripe_rk",
                       "whsec", "google", "gocspx", "aws", "npm", "pypi", "sendgrid", "twilio"])
        r = self.rand
        v = {
            "slack_bot": lambda: f"xoxb-{r(string.digits, 12)}-{r(string.digits, 13)}-{r(ALNUM, 24)}",
            "slack_user": lambda: f"xoxp-{r(string.digits, 12)}-{r(string.digits, 12)}-{r(string.digits, 13)}-{r(HEX, 32)}",
            "slack_app": lambda: f"xapp-1-A{r(UPPER_ALNUM, 10)}-{r(string.digits, 13)}-{r(HEX, 64)}",
            "slack_hook": lambda: f"https://hooks.slack.com/services/T{r(UPPER_ALNUM, 8)}/B{r(UPPER_ALNUM, 10)}/{r(ALNUM, 24)}",
            "gh": lambda: f"{self.pick(['ghp', 'gho', 'ghs', 'ghu', 'ghr'])}_{r(ALNUM, 36)}",
            "gh_pat": lambda: f"github_pat_11{r(UPPER_ALNUM, 20)}_{r(ALNUM, 59)}",
            "gl": lambda: f"glpat-{r(B64URL, 20)}",
            "stripe": lambda: f"sk_live_{r(ALNUM, self.pick([24, 99]))}",
            "stripe_rk": lambda: f"rk_live_{r(ALNUM, 24)}",
            "whsec": lambda: f"whsec_{r(ALNUM, 32)}",
            "google": lambda: f"AIza{r(B64URL, 35)}",
            "gocspx": lambda: f"GOCSPX-{r(B64URL, 28)}",
            "aws": lambda: f"{self.pick(['AKIA', 'ASIA'])}{r(UPPER_ALNUM.replace('0', '').replace('1', '').replace('8', '').replace('9', ''), 16)}",
            "npm": lambda: f"npm_{r(ALNUM, 36)}",
            "pypi": lambda: f"pypi-AgEIcHlwaS5vcmc{r(B64URL, 60)}",
            "sendgrid": lambda: f"SG.{r(B64URL, 22)}.{r(B64URL, 43)}",
            "twilio": lambda: f"SK{r(HEX, 32)}",
        }[k]()
        return self.P("api_key", v)

    def jwt(self):
        def b64(o):
            return base64.urlsafe_b64encode(json.dumps(o, separators=(",", ":")).encode()).decode().rstrip("=")
        h = b64({"alg": self.pick(["HS256", "RS256", "ES256"]), "typ": "JWT"})
        p = b64({"sub": str(self.r.randrange(10 ** 6, 10 ** 9)), "iat": 1733600000 + self.r.randrange(10 ** 6),
                 "scope": self.pick(["read", "read write", "admin"])})
        s = self.rand(B64URL, self.pick([43, 86]))
        return self.P("jwt", f"{h}.{p}.{s}")

    def pem(self):
        kind = self.pick(["RSA ", "EC ", "", "OPENSSH ", "ENCRYPTED "])
        body = "\n".join(self.rand(ALNUM + "+/", 64) for _ in range(self.r.randrange(3, 8)))
        return self.P("private_key", f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----")

    def azure_key(self):
        key = self.P("api_key", self.rand(ALNUM + "+/", 86) + "==")
        return f"DefaultEndpointsProtocol=https;AccountName={self.pick(['prodlogs', 'stacct01'])};AccountKey={key};EndpointSuffix=core.windows.net"

    def azure_sas(self):
        sig = self.P("api_key", urllib.parse.quote(base64.b64encode(self.r.randbytes(32)).decode(), safe=""))
        return (f"https://{self.pick(['prodlogs', 'backup7'])}.blob.core.windows.net/{self.pick(['exports', 'logs'])}/x.csv"
                f"?sv=2022-11-02&ss=b&srt=co&sp=rl&se=2025-09-01T00:00:00Z&spr=https&sig={sig}")

    def basic(self):
        return self.P("auth_header", base64.b64encode(f"{self.user()}:{self.pw()}".encode()).decode())

    def bearer(self):
        return self.P("auth_header", self.rand(B64URL, self.r.randrange(24, 64)))

    def generic(self):
        k = self.r.random()
        if k < 0.4:
            # The README's rule: mixed case *and* digits (a draw without a digit is not one).
            while True:
                v = self.rand(ALNUM, self.r.randrange(24, 48))
                if any(c.isdigit() for c in v) and any(c.islower() for c in v) and any(c.isupper() for c in v):
                    return self.P("generic_secret", v)
        if k < 0.7:
            return self.P("generic_secret", self.rand(HEX, 64))
        return self.P("generic_secret", self.rand(ALNUM + "+/", 40))

    def name(self):
        return self.fk().name()

    # ---- line shapes ------------------------------------------------------------------------

    def nginx(self):
        ip = self.ip()
        q = self.pick([
            lambda: f"/api/v1/users?email={urllib.parse.quote(self.email(), safe='@+')}&page=2",
            lambda: f"/reset?token={self.P('password', self.rand(B64URL, 32))}&uid={self.r.randrange(1000, 99999)}",
            lambda: f"/login?user={self.user()}&password={self.P('password', self.rand(ALNUM, 14))}",
            lambda: f"/download?pwd={self.P('undoc:pwd_query_param', self.rand(ALNUM, 14))}&file=report.pdf",
            lambda: f"/callback?code={self.rand(B64URL, 20)}&state={self.uuid()}",
            lambda: f"/v2/search?q={urllib.parse.quote(self.pick(['東京', 'café', 'shoes']))}&sha={self.git_sha()}",
            lambda: f"/static/app.{self.git_sha(True)}.js",
        ])()
        ua = self.pick([lambda: f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{self.L('126.0.6478.126')} Safari/537.36",
                        lambda: f"curl/{self.L('8.5.0')}", lambda: "kube-probe/1.29",
                        lambda: f"python-requests/{self.L('2.32.3')}"])()
        ref = self.pick([lambda: "-", lambda: f"https://shop.example.com/cart?order={self.order_id()}"])()
        return (f'{ip} - - [08/Dec/2025:03:{self.r.randrange(10, 59)}:{self.r.randrange(10, 59)} +0000] '
                f'"GET {q} HTTP/1.1" {self.pick([200, 302, 401, 404, 500])} {self.r.randrange(100, 90000)} "{ref}" "{ua}" '
                f'rt={self.r.random():.3f}')

    def apache_client(self):
        """Apache writes `[client ADDR:PORT]` with an IPv6 ADDR unbracketed: not a standard
        IPv6 text form (the port reads as a ninth group), so outside the documented coverage."""
        if self.chance(0.7):
            return self.ipv4()
        v = self.ipv6()
        self.plants[-1] = ("undoc:ipv6_unbracketed_port", v, 1)
        return v

    def apache_err(self):
        return (f"[{self.pick(['Mon', 'Tue'])} Dec 08 03:{self.r.randrange(10, 59)}:{self.r.randrange(10, 59)}.{self.r.randrange(100000, 999999)} 2025] "
                f"[php:error] [pid {self.r.randrange(100, 60000)}] [client {self.apache_client()}:{self.r.randrange(1024, 65535)}] "
                f"PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [1045] Access denied for user 'app'@'{self.ipv4()}' "
                f"(using password: YES) in /var/www/html/db.php:{self.r.randrange(10, 300)}")

    def java(self):
        v = self.pick([
            lambda: f"java.lang.IllegalArgumentException: Invalid email address: '{self.email()}'",
            lambda: f"org.postgresql.util.PSQLException: FATAL: password authentication failed for user \"app\" (url={self.dsn()})",
            lambda: f"com.acme.billing.CardDeclinedException: card [{self.card()}] declined (code=05)",
            lambda: f"java.net.ConnectException: Connection refused: /{self.ipv4()}:{self.port()}",
            lambda: f"javax.ws.rs.NotAuthorizedException: HTTP 401 (token={self.P('password', self.rand(ALNUM, 28))})",
        ])()
        frames = f"\n\tat com.acme.svc.Handler.handle(Handler.java:{self.r.randrange(10, 900)})\n\tat java.base/java.lang.Thread.run(Thread.java:{self.r.randrange(700, 1600)})"
        return v + (frames if self.chance(0.4) else "")

    def python_exc(self):
        return self.pick([
            lambda: f"ValueError: invalid literal for int() with base 10: '{self.phone()}'",
            lambda: f"KeyError: '{self.email()}'",
            lambda: f"psycopg2.OperationalError: connection to server at \"{self.ipv4()}\", port {self.port()} failed: FATAL:  password authentication failed",
            lambda: f"Traceback (most recent call last):\n  File \"/app/jobs/sync.py\", line {self.r.randrange(10, 400)}, in run\nsqlalchemy.exc.OperationalError: (pymysql.err.OperationalError) engine={self.dsn()}",
            lambda: f"stripe.error.AuthenticationError: Invalid API Key provided: {self.token()}",
        ])()

    def sql(self):
        return self.pick([
            lambda: f"INSERT INTO users (email, phone, created_at) VALUES ('{self.email()}', '{self.phone()}', '{self.ts()}')",
            lambda: f"UPDATE accounts SET iban='{self.iban()}' WHERE id={self.r.randrange(1, 10 ** 6)}",
            lambda: f"SELECT * FROM customers WHERE ssn = '{self.ssn()}' AND status='active' LIMIT 1",
            lambda: f"SELECT id FROM payments WHERE card_number IN ('{self.card()}','{self.order_id()}')",
            lambda: f"slow query ({self.duration()}): SELECT * FROM sessions WHERE ip='{self.ip()}' ORDER BY id DESC",
            lambda: f"INSERT INTO residents (my_number, name) VALUES ('{self.my_number()}', '{self.f['ja_JP'].name()}')",
        ])()

    def k8s(self):
        pod = self.k8s_name()
        return self.pick([
            lambda: f"Warning  BackOff  pod/{pod}  Back-off restarting failed container app in pod {pod}_prod({self.uuid()})",
            lambda: f"Normal   Pulled   pod/{pod}  Successfully pulled image \"registry.example.com/app:{self.version()}\" in {self.duration()}",
            lambda: f"Warning  Failed   pod/{pod}  Error: secret \"db-creds\" not found; env DATABASE_URL={self.dsn()}",
            lambda: f"Normal   Scheduled pod/{pod}  Successfully assigned prod/{pod} to node-{self.rand(HEX, 5)} podIP={self.ip()}",
        ])()

    def logfmt(self):
        parts = [f"ts={self.ts()}", f"level={self.pick(['info', 'warn', 'error'])}", f"trace_id={self.trace_id()}"]
        extra = self.pick([
            lambda: [f"user_email={self.email()}", f"client_ip={self.ip()}"],
            lambda: [f"msg=\"login ok\"", f"user={self.user()}", f"password={self.P('password', self.pw())}"],
            lambda: [f"api_key={self.P('password', self.rand(ALNUM, 32))}", f"duration={self.duration()}"],
            lambda: [f"signing_key={self.generic()}", f"kid={self.uuid()}"],
            lambda: [f"db={self.dsn()}", f"pool_size={self.r.randrange(1, 64)}"],
            lambda: [f"phone=\"{self.phone()}\"", f"country={self.pick(list(LOCALES.values()))}"],
            lambda: [f"card={self.card()}", f"order={self.order_id()}"],
            lambda: [f"commit={self.git_sha()}", f"image_digest=sha256:{self.sha256()}", f"version={self.version()}"],
            lambda: [f"secret: {self.P('password', self.pw())}"],
            lambda: [f"X-Session-Key={self.generic()}"],
        ])()
        return " ".join(parts + extra)

    def syslog(self):
        host = self.pick(["web-1", "ip-10-0-1-23", "db-primary", "bastion"])
        return self.pick([
            lambda: f"<{self.r.randrange(0, 191)}>Dec  8 03:{self.r.randrange(10, 59)}:{self.r.randrange(10, 59)} {host} sshd[{self.r.randrange(100, 65000)}]: Failed password for invalid user {self.user()} from {self.ip()} port {self.r.randrange(1024, 65535)} ssh2",
            lambda: f"<{self.r.randrange(0, 191)}>1 {self.ts()} {host} postfix/smtp {self.r.randrange(100, 65000)} - - to=<{self.email()}>, relay=mx.example.net[{self.ipv4()}]:25, delay={self.r.random():.2f}, status=sent (250 2.0.0 OK)",
            lambda: f"<{self.r.randrange(0, 191)}>Dec  8 03:{self.r.randrange(10, 59)}:{self.r.randrange(10, 59)} {host} dhcpd: DHCPACK on {self.ipv4()} to {self.rand(HEX, 2)}:{self.rand(HEX, 2)}:{self.rand(HEX, 2)}:{self.rand(HEX, 2)}:{self.rand(HEX, 2)}:{self.rand(HEX, 2)} via eth0",
            lambda: f"<{self.r.randrange(0, 191)}>Dec  8 03:{self.r.randrange(10, 59)}:{self.r.randrange(10, 59)} {host} kernel: IPv6: ADDRCONF(NETDEV_CHANGE): {self.ipv6()} ready",
        ])()

    def headers(self):
        h = [f"Host: api.example.com", f"X-Request-Id: {self.uuid()}"]
        h += self.pick([
            lambda: [f"Authorization: Bearer {self.bearer()}"],
            lambda: [f"Authorization: Basic {self.basic()}"],
            lambda: [f"authorization: Bearer {self.jwt()}"],
            lambda: [f"X-Forwarded-For: {self.ip()}, {self.ipv4()}"],
            lambda: [f"Cookie: session={self.P('undoc:session_cookie', self.rand(ALNUM, 32))}; theme=dark"],
            lambda: [f"X-Api-Key: {self.token()}"],
            lambda: [f"If-None-Match: \"{self.git_sha()}\"", f"User-Agent: Go-http-client/{self.L('1.1')}"],
        ])()
        sep = self.pick(["\n", " | ", "; "])
        return "request headers: " + sep.join(h)

    def misc_text(self):
        return self.pick([
            lambda: f"{self.pick(JP_TEXT)}：{self.email()}（会員番号 {self.order_id()}）",
            lambda: f"{self.pick(ACCENT_TEXT)} «{self.email()}», tél. {self.phone()}.",
            lambda: f"電話番号「{self.phone()}」宛にSMSを送信しました",
            lambda: f"webhook posted to {self.P('api_key', 'https://hooks.slack.com/services/T' + self.rand(UPPER_ALNUM, 9) + '/B' + self.rand(UPPER_ALNUM, 10) + '/' + self.rand(ALNUM, 24))}",
            lambda: f"loaded key:\n{self.pem()}",
            lambda: f"storage conn string: {self.azure_key()}",
            lambda: f"uploading to {self.azure_sas()}",
            lambda: f"retrying ({self.duration()}) with GITHUB_TOKEN={self.token()}",
            lambda: f"export NPM_TOKEN={self.token()} && npm publish",
            lambda: f"user {self.name()} ({self.email()}) from {self.ip()} paid with {self.card()}",
            lambda: f"IBAN: {self.iban()}; BIC: {self.pick(['DEUTDEFF', 'BNPAFRPP', 'NWBKGB2L'])}",
            lambda: f"SSN={self.ssn()}, DOB={self.pick(['1984-03-12', '1990-11-30'])}",
            lambda: f"マイナンバー:{self.my_number()}",
            lambda: f"deployed {self.k8s_name()} at {self.git_sha(True)} ({self.version()}) in {self.duration()} on port {self.port()}",
            lambda: f"cursor={self.short_b64()} next={self.short_b64()} build={self.sha256()}",
        ])()

    def twice(self):
        """The same value twice on a line (both occurrences must go)."""
        k = self.pick(["email", "ip", "pw", "phone", "card"])
        if k == "email":
            v = self.email()
            self.plants[-1] = ("email", v, 2)
            return f"sent verification to {v}; reply-to=\"{v}\""
        if k == "ip":
            v = self.ipv4()
            self.plants[-1] = ("ipv4", v, 2)
            return f"client={v} x-real-ip:{v}"
        if k == "phone":
            v = self.phone()
            self.plants[-1] = ("phone", v, 2)
            return f"call {v} failed, retry {v}"
        if k == "card":
            v = self.card()
            self.plants[-1] = ("credit_card", v, 2)
            return f"card={v} (confirm: {v})"
        pw = self.url_pw()
        self.plants.append(("password", pw, 2))
        return f"connect password={pw} url=postgres://app:{pw}@db.internal:5432/app"

    def at_edges(self):
        """A value alone, at the start or end of a string, next to punctuation."""
        v = self.pick([self.email, self.ipv4, self.ipv6, self.phone, self.card, self.jwt, self.token, self.iban,
                       self.ssn, self.my_number])()
        return self.pick([f"{v}", f"{v}: rejected", f"({v})", f"[{v}]", f"\"{v}\",", f"from={v}", f"<{v}>", f"{v}."])

    TEXT_SHAPES = ["nginx", "apache_err", "java", "python_exc", "sql", "k8s", "logfmt", "syslog", "headers",
                   "misc_text", "twice", "at_edges"]

    def json_line(self, i):
        obj = {"@timestamp": self.ts(), "level": self.pick(["INFO", "WARN", "ERROR", "debug"]), "eval_id": i}
        k = self.r.random()
        if k < 0.35:
            obj["message"] = getattr(self, self.pick(self.TEXT_SHAPES))()
        elif k < 0.55:
            obj["http"] = {"request": {"method": "POST", "url": self.pick([
                lambda: f"https://{self.user()}:{self.P('url_credentials', self.url_pw())}@api.example.com/v1/sync",
                lambda: f"/v1/items?id={self.uuid()}&api_key={self.P('password', self.rand(ALNUM, 32))}",
                lambda: self.azure_sas(),
                lambda: f"/hooks?next={self.short_b64()}",
            ])(), "headers": {"authorization": [f"Bearer {self.bearer()}"], "x-forwarded-for": self.ip()}},
                "response": {"status": self.pick([200, 401, 500]), "duration": self.duration()}}
            obj["user"] = {"id": self.r.randrange(1, 10 ** 7), "email": self.email(), "roles": ["admin", "billing"]}
        elif k < 0.7:
            obj["config"] = {"db": {"url": self.dsn(), "password": self.P("password", self.pw()), "pool": 10},
                             "cache": {"host": "redis", "port": int(self.port())},
                             "build": {"commit": self.git_sha(), "version": self.version()}}
        elif k < 0.85:
            obj["customer"] = {"name": self.name(), "phones": [self.phone(), self.phone()],
                               "addresses": [{"city": self.fk().city(), "ip": self.ip()}],
                               "payment": {"iban": self.iban(), "card_last_order": self.order_id()}}
            obj["note"] = f"{self.pick(JP_TEXT)} \"{self.email()}\"\t({self.pick(ACCENT_TEXT)})"
        else:
            obj["event"] = {"kind": "Secret", "involvedObject": {"name": self.k8s_name(), "uid": self.uuid()},
                            "data": {"client_secret": self.P("password", self.rand(ALNUM, 40)),
                                     "tls.key": self.pem(),
                                     "encryption_key": self.generic()},
                            "tokens": [self.token(), self.jwt()]}
        text = json.dumps(obj, ensure_ascii=self.chance(0.3))
        if self.chance(0.2):
            text = text.replace("/", "\\/")  # PHP-style escaped slashes
        return text

    def text_line(self, i):
        # The number goes last: a digit value right after a leading `#N ` would read as
        # one more digit group of it (`#5733 1240 8717 5007` spells a card).
        return f"{getattr(self, self.pick(self.TEXT_SHAPES))()} #{i}"

    def line(self, i):
        self.plants = []
        self.looks = []
        if self.chance(0.45):
            text = self.json_line(i)
            plants = self.plants
        else:
            text = self.text_line(i).replace("\n", "\\n").replace("\t", "\\t")
            plants = [(d, v.replace("\n", "\\n"), n) for d, v, n in self.plants]
        # A line may plant nothing (only look-alikes): a precision test of its own.
        return text, plants, list(self.looks)

//! The words of the UI: Estonian by default, English on request. One typed struct per language,
//! so a string missing from a language does not compile.

use axum::http::HeaderMap;
use shared::PersonalCodeError;

use crate::service::Problem;
use crate::store::accounts::Role;

pub const LOCALE_COOKIE: &str = "lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Et,
    En,
}

impl Locale {
    pub fn code(self) -> &'static str {
        match self {
            Locale::Et => "et",
            Locale::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Locale> {
        match code.trim().to_ascii_lowercase().as_str() {
            "et" | "et-ee" => Some(Locale::Et),
            "en" | "en-gb" | "en-us" => Some(Locale::En),
            _ => None,
        }
    }

    /// Cookie first, then the first language of `Accept-Language` we speak, then Estonian.
    pub fn resolve(headers: &HeaderMap) -> Locale {
        let cookie = headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == LOCALE_COOKIE)
            .and_then(|(_, value)| Locale::parse(value));
        if let Some(locale) = cookie {
            return locale;
        }
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|tag| tag.split(';').next())
            .find_map(|tag| Locale::parse(tag.split('-').next().unwrap_or(tag)))
            .unwrap_or(Locale::Et)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Locale::Et => &ET,
            Locale::En => &EN,
        }
    }
}

pub struct Texts {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub username: &'static str,
    pub username_hint: &'static str,
    pub password: &'static str,
    pub password_again: &'static str,
    pub password_rule: &'static str,
    pub invalid_credentials: &'static str,
    pub ambiguous_name: &'static str,
    pub throttled: &'static str,
    pub minutes: &'static str,
    pub profile: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub hello: &'static str,
    pub your_roles: &'static str,
    pub your_children: &'static str,
    pub no_children: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub personal_code: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
    pub address: &'static str,
    pub address_hint: &'static str,
    pub new_password: &'static str,
    pub new_password_hint: &'static str,
    pub must_change_title: &'static str,
    pub must_change_text: &'static str,
    pub change_password: &'static str,
    pub child_profile: &'static str,
    pub child_profile_hint: &'static str,
    pub admin: &'static str,
    pub accounts: &'static str,
    pub search: &'static str,
    pub new_account: &'static str,
    pub create: &'static str,
    pub roles: &'static str,
    pub temporary_password: &'static str,
    pub temporary_password_hint: &'static str,
    pub children: &'static str,
    pub parents: &'static str,
    pub add_child: &'static str,
    pub child_code: &'static str,
    pub remove: &'static str,
    pub disabled: &'static str,
    pub disable: &'static str,
    pub enable: &'static str,
    pub import_students: &'static str,
    pub import_hint: &'static str,
    pub import_file: &'static str,
    pub import_button: &'static str,
    pub import_report: &'static str,
    pub line: &'static str,
    pub name: &'static str,
    pub result: &'static str,
    pub created: &'static str,
    pub duplicate_in_file: &'static str,
    pub wrong_field_count: &'static str,
    pub file_not_utf8: &'static str,
    pub file_empty: &'static str,
    pub file_missing_columns: &'static str,
    pub file_malformed: &'static str,
    pub file_too_many_rows: &'static str,
    pub file_missing: &'static str,
    pub sso_unavailable: &'static str,
    pub error_title: &'static str,
    pub not_found: &'static str,
    pub forbidden: &'static str,
    pub bad_request: &'static str,
    pub too_large: &'static str,
    pub csrf_failed: &'static str,
    pub internal: &'static str,
    pub request_id: &'static str,
    pub back_home: &'static str,
    pub role_student: &'static str,
    pub role_parent: &'static str,
    pub role_teacher: &'static str,
    pub role_admin: &'static str,
    pub p_required: &'static str,
    pub p_too_long: &'static str,
    pub p_code_length: &'static str,
    pub p_code_digits: &'static str,
    pub p_code_century: &'static str,
    pub p_code_date: &'static str,
    pub p_code_check: &'static str,
    pub p_code_taken: &'static str,
    pub p_email: &'static str,
    pub p_phone: &'static str,
    pub p_password_short: &'static str,
    pub p_password_mismatch: &'static str,
    pub p_unknown_code: &'static str,
    pub p_not_student: &'static str,
    pub p_self: &'static str,
}

impl Texts {
    pub fn problem(&self, p: Problem) -> &'static str {
        match p {
            Problem::Required => self.p_required,
            Problem::TooLong => self.p_too_long,
            Problem::PersonalCode(PersonalCodeError::Length) => self.p_code_length,
            Problem::PersonalCode(PersonalCodeError::NotDigits) => self.p_code_digits,
            Problem::PersonalCode(PersonalCodeError::Century) => self.p_code_century,
            Problem::PersonalCode(PersonalCodeError::Date) => self.p_code_date,
            Problem::PersonalCode(PersonalCodeError::CheckDigit) => self.p_code_check,
            Problem::PersonalCodeTaken => self.p_code_taken,
            Problem::Email => self.p_email,
            Problem::Phone => self.p_phone,
            Problem::PasswordTooShort => self.p_password_short,
            Problem::PasswordMismatch => self.p_password_mismatch,
            Problem::UnknownPersonalCode => self.p_unknown_code,
            Problem::NotAStudent => self.p_not_student,
            Problem::SelfRelation => self.p_self,
        }
    }

    pub fn role(&self, role: &Role) -> &'static str {
        match role {
            Role::Student => self.role_student,
            Role::Parent => self.role_parent,
            Role::Teacher => self.role_teacher,
            Role::Admin => self.role_admin,
        }
    }
}

pub static ET: Texts = Texts {
    lang: "et",
    other_lang: "en",
    other_lang_name: "English",
    sign_in: "Logi sisse",
    sign_out: "logi välja",
    username: "Kasutajanimi",
    username_hint: "e-posti aadress või ees- ja perekonnanimi (võib kirjutada kokku või lahku, suure või väikese algustähega)",
    password: "Salasõna",
    password_again: "Salasõna x2",
    password_rule: "Salasõna peab olema vähemalt 8 sümbolit pikk ja see on vaja sisestada 2 korda.",
    invalid_credentials: "Vale kasutajanimi või salasõna.",
    ambiguous_name: "Selle nimega on koolis mitu kasutajat. Logi palun sisse oma e-posti aadressiga.",
    throttled: "Liiga palju ebaõnnestunud sisselogimiskatseid. Proovi uuesti",
    minutes: "minuti pärast.",
    profile: "profiil",
    save: "Salvesta",
    saved: "Andmed on salvestatud.",
    hello: "Tere",
    your_roles: "Sinu rollid",
    your_children: "Sinu lapsed",
    no_children: "Sinuga pole seotud ühtegi last.",
    first_name: "Eesnimi",
    last_name: "Perekonnanimi",
    personal_code: "Isikukood",
    email: "E-post",
    phone: "Telefon",
    address: "Aadress",
    address_hint: "nt Tamme tn 5-12, Jõgeva linn, 48306 Jõgeva maakond",
    new_password: "Uus salasõna",
    new_password_hint: "Jäta tühjaks, kui salasõna ei muuda.",
    must_change_title: "Vali uus salasõna",
    must_change_text: "Sinu salasõna on ajutine. Enne jätkamist vali endale uus salasõna.",
    change_password: "Muuda salasõna",
    child_profile: "Lapse profiil",
    child_profile_hint: "Siin saad lisada lapsele e-posti aadressi ja salasõna, millega ta saab hiljem ise sisse logida.",
    admin: "Haldus",
    accounts: "Kasutajakontod",
    search: "Otsi",
    new_account: "Uus konto",
    create: "Loo konto",
    roles: "Rollid",
    temporary_password: "Ajutine salasõna",
    temporary_password_hint: "Kui sisestad, peab kasutaja selle esimesel sisselogimisel ära muutma.",
    children: "Lapsed",
    parents: "Vanemad",
    add_child: "Seo laps",
    child_code: "Lapse isikukood",
    remove: "Eemalda",
    disabled: "Konto on suletud",
    disable: "Sulge konto",
    enable: "Ava konto uuesti",
    import_students: "Õpilaste import",
    import_hint: "CSV-fail veergudega eesnimi, perekonnanimi, isikukood, e-post (eraldaja koma või semikoolon, esimene rida on päis).",
    import_file: "Fail",
    import_button: "Impordi",
    import_report: "Impordi tulemus",
    line: "Rida",
    name: "Nimi",
    result: "Tulemus",
    created: "Loodud",
    duplicate_in_file: "Sama isikukood on failis juba eespool.",
    wrong_field_count: "Real on vale arv välju.",
    file_not_utf8: "Fail ei ole UTF-8 kodeeringus tekst. Salvesta see tabelarvutuses kui \"CSV UTF-8\".",
    file_empty: "Failis pole ühtegi andmerida.",
    file_missing_columns: "Failil puuduvad veerud eesnimi ja perekonnanimi.",
    file_malformed: "Fail ei ole korrektne CSV. Viga real",
    file_too_many_rows: "Failis on liiga palju ridu (korraga kuni 5000).",
    file_missing: "Vali imporditav fail.",
    sso_unavailable: "Ühtne sisselogimine ei ole praegu saadaval: logi sisse selle kooli kasutajanimega.",
    error_title: "Midagi läks valesti",
    not_found: "Seda lehte ei leitud.",
    forbidden: "Sul pole sellele lehele ligipääsu.",
    bad_request: "Vormi andmed olid vigased. Proovi uuesti.",
    too_large: "Saadetud andmed on liiga suured.",
    csrf_failed: "Vorm on aegunud või ei pärine sellelt lehelt. Laadi leht uuesti ja proovi veel kord.",
    internal: "Serveris tekkis viga. Proovi hiljem uuesti.",
    request_id: "Päringu tunnus",
    back_home: "Tagasi avalehele",
    role_student: "õpilane",
    role_parent: "lapsevanem",
    role_teacher: "õpetaja",
    role_admin: "administraator",
    p_required: "See väli on kohustuslik.",
    p_too_long: "Liiga pikk.",
    p_code_length: "Isikukoodis peab olema 11 numbrit.",
    p_code_digits: "Isikukood koosneb ainult numbritest.",
    p_code_century: "Isikukoodi esimene number peab olema 1–8.",
    p_code_date: "Isikukoodis olev sünnikuupäev ei ole õige kuupäev.",
    p_code_check: "Isikukoodi kontrollnumber ei klapi: kontrolli, kas kõik numbrid on õiged.",
    p_code_taken: "Selle isikukoodiga konto on juba olemas.",
    p_email: "See ei ole e-posti aadress.",
    p_phone: "See ei ole telefoninumber.",
    p_password_short: "Salasõna peab olema vähemalt 8 sümbolit pikk.",
    p_password_mismatch: "Salasõnad ei ühti.",
    p_unknown_code: "Selle isikukoodiga kasutajat koolis ei ole.",
    p_not_student: "Selle isikukoodiga kasutaja ei ole õpilane.",
    p_self: "Inimest ei saa siduda iseenda lapseks.",
};

pub static EN: Texts = Texts {
    lang: "en",
    other_lang: "et",
    other_lang_name: "Eesti keeles",
    sign_in: "Sign in",
    sign_out: "sign out",
    username: "Username",
    username_hint: "your e-mail address or first and last name (together or apart, in any case)",
    password: "Password",
    password_again: "Password again",
    password_rule: "The password must be at least 8 characters long and typed twice.",
    invalid_credentials: "Wrong username or password.",
    ambiguous_name: "Several people at this school have that name. Please sign in with your e-mail address.",
    throttled: "Too many failed sign-in attempts. Try again in",
    minutes: "minutes.",
    profile: "profile",
    save: "Save",
    saved: "Your changes have been saved.",
    hello: "Hello",
    your_roles: "Your roles",
    your_children: "Your children",
    no_children: "No children are related to you.",
    first_name: "First name",
    last_name: "Last name",
    personal_code: "Personal code",
    email: "E-mail",
    phone: "Phone",
    address: "Address",
    address_hint: "e.g. Tamme tn 5-12, Jõgeva linn, 48306 Jõgeva maakond",
    new_password: "New password",
    new_password_hint: "Leave empty to keep the password.",
    must_change_title: "Choose a new password",
    must_change_text: "Your password is temporary. Please choose a new one before you go on.",
    change_password: "Change password",
    child_profile: "Child's profile",
    child_profile_hint: "Here you can give your child an e-mail address and a password to sign in with later.",
    admin: "Administration",
    accounts: "Accounts",
    search: "Search",
    new_account: "New account",
    create: "Create account",
    roles: "Roles",
    temporary_password: "Temporary password",
    temporary_password_hint: "If given, the person must change it at first sign-in.",
    children: "Children",
    parents: "Parents",
    add_child: "Relate a child",
    child_code: "Child's personal code",
    remove: "Remove",
    disabled: "The account is closed",
    disable: "Close account",
    enable: "Reopen account",
    import_students: "Import students",
    import_hint: "A CSV file with the columns first_name, last_name, personal_code, email (comma or semicolon; the first line is the header).",
    import_file: "File",
    import_button: "Import",
    import_report: "Import result",
    line: "Line",
    name: "Name",
    result: "Result",
    created: "Created",
    duplicate_in_file: "The same personal code is on an earlier line of the file.",
    wrong_field_count: "The line has the wrong number of fields.",
    file_not_utf8: "The file is not UTF-8 text. Save it from your spreadsheet as \"CSV UTF-8\".",
    file_empty: "The file has no data lines.",
    file_missing_columns: "The file lacks the columns first_name and last_name.",
    file_malformed: "The file is not valid CSV. Error on line",
    file_too_many_rows: "The file has too many lines (at most 5000 at a time).",
    file_missing: "Choose a file to import.",
    sso_unavailable: "Single sign-on is not available right now: sign in with this school's username.",
    error_title: "Something went wrong",
    not_found: "This page was not found.",
    forbidden: "You do not have access to this page.",
    bad_request: "The form data was not valid. Please try again.",
    too_large: "What you sent is too large.",
    csrf_failed: "The form has expired or did not come from this site. Reload the page and try again.",
    internal: "The server had a problem. Please try again later.",
    request_id: "Request id",
    back_home: "Back to the front page",
    role_student: "student",
    role_parent: "parent",
    role_teacher: "teacher",
    role_admin: "administrator",
    p_required: "This field is required.",
    p_too_long: "Too long.",
    p_code_length: "A personal code has 11 digits.",
    p_code_digits: "A personal code has only digits.",
    p_code_century: "The first digit of a personal code must be 1 to 8.",
    p_code_date: "The date of birth in the personal code is not a real date.",
    p_code_check: "The check digit does not match: please check every digit.",
    p_code_taken: "An account with this personal code already exists.",
    p_email: "This is not an e-mail address.",
    p_phone: "This is not a phone number.",
    p_password_short: "The password must be at least 8 characters long.",
    p_password_mismatch: "The passwords do not match.",
    p_unknown_code: "No one at this school has this personal code.",
    p_not_student: "The person with this personal code is not a student.",
    p_self: "A person cannot be their own child.",
};

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn cookie_then_accept_language_then_estonian() {
        assert_eq!(Locale::resolve(&headers(&[])), Locale::Et);
        assert_eq!(
            Locale::resolve(&headers(&[("accept-language", "de-DE,en-GB;q=0.8")])),
            Locale::En
        );
        assert_eq!(
            Locale::resolve(&headers(&[
                ("accept-language", "en"),
                ("cookie", "a=b; lang=et")
            ])),
            Locale::Et
        );
        assert_eq!(
            Locale::resolve(&headers(&[("cookie", "lang=xx")])),
            Locale::Et
        );
    }
}

//! The IdP's few words, Estonian by default, English when the browser asks for it.

use axum::http::HeaderMap;

#[derive(Debug)]
pub struct Texts {
    pub lang: &'static str,
    pub other_lang: &'static str,
    pub other_lang_name: &'static str,
    pub federation: &'static str,
    pub sign_in: &'static str,
    pub username: &'static str,
    pub username_hint: &'static str,
    pub password: &'static str,
    pub forgot: &'static str,
    pub apply: &'static str,
    pub open_account: &'static str,
    pub send_access: &'static str,
    pub send_access_hint: &'static str,
    pub apply_hint: &'static str,
    pub signed_out_next: &'static str,
    pub invalid_credentials: &'static str,
    pub ambiguous_name: &'static str,
    pub throttled: &'static str,
    pub node_unavailable: &'static str,
    pub error_title: &'static str,
    pub bad_request: &'static str,
    pub unknown_client: &'static str,
    pub bad_redirect_uri: &'static str,
    pub request_expired: &'static str,
    pub csrf_failed: &'static str,
    pub signed_out_title: &'static str,
    pub signed_out: &'static str,
    pub bad_logout: &'static str,
    pub signed_out_of: &'static str,
    pub not_signed_in_title: &'static str,
    pub not_signed_in: &'static str,
    pub continue_: &'static str,
    pub not_found: &'static str,
    pub internal: &'static str,
    pub unavailable: &'static str,
    pub link_title: &'static str,
    pub link_choose: &'static str,
    pub link_linked: &'static str,
    pub link_none_left: &'static str,
    pub link_search: &'static str,
    pub link_search_button: &'static str,
    pub link_search_none: &'static str,
    pub link_search_more: &'static str,
    pub link_sign_in_first: &'static str,
    pub link_mismatch_title: &'static str,
    pub link_mismatch: &'static str,
    pub link_uncorroborated: &'static str,
    pub link_review_title: &'static str,
    pub link_review: &'static str,
    pub link_kept: &'static str,
    pub link_confirm: &'static str,
    pub link_done_title: &'static str,
    pub link_done: &'static str,
    pub link_already: &'static str,
    pub link_node_taken: &'static str,
    pub link_unavailable: &'static str,
    pub back_to: &'static str,
    pub not_linked_here: &'static str,
    pub eid_failed_title: &'static str,
    pub eid_cancelled: &'static str,
    pub eid_invalid: &'static str,
    pub eid_wrong_method: &'static str,
    pub eid_no_code: &'static str,
    pub eid_unavailable: &'static str,
    pub eid_state: &'static str,
    pub eid_unknown_title: &'static str,
    pub eid_unknown: &'static str,
    pub eid_ways: &'static str,
    pub sign_in_with_password: &'static str,
    pub field_first_name: &'static str,
    pub field_last_name: &'static str,
    pub field_personal_code: &'static str,
    pub field_email: &'static str,
    pub field_phone: &'static str,
    pub field_address: &'static str,
    pub field_birth_date: &'static str,
    pub not_found_title: &'static str,
    pub internal_title: &'static str,
    pub unavailable_title: &'static str,
    pub request_id: &'static str,
    pub try_again: &'static str,
    pub logout_failed_title: &'static str,
    pub logout_failed: &'static str,
    pub other_browser: &'static str,
    pub control_characters: &'static str,
    pub new_password_title: &'static str,
    pub new_password_hint: &'static str,
    pub new_password: &'static str,
    pub new_password_again: &'static str,
    pub password_too_short: &'static str,
    pub passwords_differ: &'static str,
    pub save_and_continue: &'static str,
    pub logout_confirm_title: &'static str,
    pub logout_confirm: &'static str,
    pub logout_button: &'static str,
}

pub static ET: Texts = Texts {
    lang: "et",
    other_lang: "en",
    other_lang_name: "English",
    federation: "Koolide ühine sisselogimine",
    sign_in: "Logi sisse",
    username: "Kasutajanimi",
    username_hint: "e-posti aadress või ees- ja perekonnanimi (võib kirjutada kokku või lahku, suure või väikese algustähega)",
    password: "Salasõna",
    forgot: "Unustasid salasõna?",
    apply: "esita andmed ja taotle kontot »",
    open_account: "Ava kasutajakonto",
    send_access: "saada mulle ligipääsuandmed »",
    send_access_hint: "Kui kool on sinu andmed juba süsteemi lisanud:",
    apply_hint: "Kui koolil pole veel sinu andmeid:",
    signed_out_next: "Kuhu edasi?",
    invalid_credentials: "Vale kasutajanimi või salasõna.",
    ambiguous_name: "Selle nimega on koolis mitu kasutajat. Logi palun sisse oma e-posti aadressiga.",
    throttled: "Liiga palju ebaõnnestunud sisselogimiskatseid. Proovi hiljem uuesti.",
    node_unavailable: "Kool ei vasta praegu. Proovi hiljem uuesti või logi sisse otse kooli lehel.",
    error_title: "Sisselogimine ei õnnestunud",
    bad_request: "Päring oli vigane.",
    unknown_client: "Seda rakendust ei tunta.",
    bad_redirect_uri: "Rakendus küsis tundmatut tagasisuunamise aadressi.",
    request_expired: "Sisselogimise päring on aegunud. Alusta uuesti oma kooli lehelt.",
    csrf_failed: "Vorm on aegunud. Alusta uuesti oma kooli lehelt.",
    signed_out_title: "Oled välja logitud",
    signed_out: "Sinu ühine sisselogimine on lõpetatud.",
    signed_out_of: "Välja logiti koolidest:",
    not_signed_in_title: "Sa ei ole sisse logitud",
    not_signed_in: "Selles brauseris ei olnud ühist sisselogimist, mida lõpetada.",
    continue_: "Jätka »",
    bad_logout: "Väljalogimise päring oli vigane: tundmatu rakendus või tagasisuunamise aadress.",
    not_found: "Seda lehte ei leitud.",
    internal: "Serveris tekkis viga. Proovi hiljem uuesti.",
    unavailable: "Teenus on hetkeks kättesaamatu. Proovi mõne hetke pärast uuesti.",
    link_title: "Seo oma konto teise kooliga",
    link_choose: "Vali asutus, kus sul on samuti konto. Seal sisse logides tõendad, et see konto on sinu oma.",
    link_linked: "Juba seotud:",
    link_none_left: "Teisi asutusi, millega siduda, ei ole.",
    link_search: "Otsi asutust nime järgi",
    link_search_button: "Otsi",
    link_search_none: "Sellise nimega asutust ei leitud.",
    link_search_more: "asutust veel sobib; kirjuta nimest rohkem, et leida õige.",
    link_sign_in_first: "Sidumiseks logi esmalt oma kooli lehel sisse ühise sisselogimisega.",
    link_mismatch_title: "Kontosid ei saa siduda",
    link_mismatch: "Kontode isikuandmed ei kattu, midagi ei seotud. Erinevad andmed:",
    link_uncorroborated: "Peale nime ei ole mõlemal kontol ühtegi kattuvat andmevälja (isikukood, e-post, telefon, sünniaeg). Lisa puuduvad andmed oma profiilile ja proovi uuesti.",
    link_review_title: "Kontrolli andmeid enne sidumist",
    link_review: "Kontod kuuluvad samale inimesele. Pärast sidumist on mõlemas asutuses samad isikuandmed. Kui väärtused erinevad, vali, milline jääb.",
    link_kept: "Jääb",
    link_confirm: "Seo kontod",
    link_done_title: "Kontod on seotud",
    link_done: "Nüüd avad ühe sisselogimisega kõigi seotud asutuste lehed.",
    link_already: "Need kontod on juba seotud.",
    link_node_taken: "Sul on selles asutuses juba teine seotud konto.",
    link_unavailable: "Asutus ei vasta praegu või kontot ei ole enam. Proovi hiljem uuesti.",
    back_to: "Tagasi",
    eid_failed_title: "ID-kaardi või Smart-IDga sisselogimine ei õnnestunud",
    eid_cancelled: "Sisselogimine katkestati.",
    eid_invalid: "Tuvastusteenuse vastus ei olnud korrektne, sisse ei logitud. Proovi uuesti.",
    eid_wrong_method: "Isik tuvastati teise meetodi või madalama tasemega, kui küsiti; sisse ei logitud.",
    eid_no_code: "Tuvastusteenus ei andnud kehtivat isikukoodi; sisse ei logitud.",
    eid_unavailable: "Tuvastusteenus ei vasta praegu. Proovi hiljem uuesti või logi sisse salasõnaga.",
    eid_state: "Vastus ei kuulu selle sisselogimise juurde. Alusta uuesti oma kooli lehelt.",
    eid_unknown_title: "Kontot ei leitud",
    eid_unknown: "Selles asutuses ei ole sinu isikukoodiga kontot.",
    eid_ways: "Kui sul on siin konto, palu koolil lisada sinu isikukood või logi sisse kasutajanime ja salasõnaga. Lapsevanem saab esitada andmed ja taotleda kontot.",
    sign_in_with_password: "Logi sisse salasõnaga",
    not_linked_here: "Sul ei ole selles asutuses kontot, mis oleks seotud sinu teiste kontodega. Kui sul on siin konto, logi sisse ja seo kontod oma profiililt; kui ei ole, taotle kontot.",
    field_first_name: "eesnimi",
    field_last_name: "perekonnanimi",
    field_personal_code: "isikukood",
    field_email: "e-post",
    field_phone: "telefon",
    field_address: "aadress",
    field_birth_date: "sünniaeg",
    not_found_title: "Lehte ei leitud",
    internal_title: "Serveri viga",
    unavailable_title: "Teenus on hetkeks kättesaamatu",
    request_id: "Päringu tunnus",
    try_again: "Proovi uuesti",
    logout_failed_title: "Väljalogimine ei õnnestunud",
    logout_failed: "Väljalogimist ei õnnestunud salvestada, seega oled endiselt sisse logitud. Proovi uuesti.",
    new_password_title: "Vali uus salasõna",
    new_password_hint: "Sinu salasõna on ajutine. Enne jätkamist vali uus salasõna (vähemalt 8 märki).",
    new_password: "Uus salasõna",
    new_password_again: "Uus salasõna uuesti",
    password_too_short: "Salasõna peab olema vähemalt 8 märki pikk.",
    passwords_differ: "Salasõnad ei ole samad.",
    save_and_continue: "Salvesta ja jätka",
    control_characters: "Vormi väljades oli lubamatuid nähtamatuid märke (juhtmärke). Mine tagasi, paranda sisestus ja proovi uuesti.",
    other_browser: "See samm alustati teises brauseris, seega siin ei logitud kedagi sisse. Alusta uuesti oma kooli lehelt.",
    logout_confirm_title: "Väljalogimine",
    logout_confirm: "Kas soovid ühisest sisselogimisest välja logida? Sind logitakse välja kõigist koolidest, kuhu oled selle sisselogimisega sisenenud.",
    logout_button: "Logi välja",
};

pub static EN: Texts = Texts {
    lang: "en",
    other_lang: "et",
    other_lang_name: "Eesti keeles",
    federation: "Schools' single sign-on",
    sign_in: "Sign in",
    username: "Username",
    username_hint: "your e-mail address or first and last name (together or apart, in any case)",
    password: "Password",
    forgot: "Forgot your password?",
    apply: "submit your details and apply for an account »",
    open_account: "Open an account",
    send_access: "send me my access details »",
    send_access_hint: "If the school has already entered your details:",
    apply_hint: "If the school does not have your details yet:",
    signed_out_next: "Where next?",
    invalid_credentials: "Wrong username or password.",
    ambiguous_name: "Several people at this school have that name. Please sign in with your e-mail address.",
    throttled: "Too many failed sign-in attempts. Please try again later.",
    node_unavailable: "The school does not answer right now. Try again later or sign in on the school's own site.",
    error_title: "Sign-in did not work",
    bad_request: "The request was not valid.",
    unknown_client: "This application is not known.",
    bad_redirect_uri: "The application asked for an unknown redirect address.",
    request_expired: "The sign-in request has expired. Please start again from your school's site.",
    csrf_failed: "The form has expired. Please start again from your school's site.",
    signed_out_title: "You are signed out",
    signed_out: "Your single sign-on session has ended.",
    signed_out_of: "You were signed out of:",
    not_signed_in_title: "You are not signed in",
    not_signed_in: "This browser had no single sign-on session to end.",
    continue_: "Continue »",
    bad_logout: "The sign-out request was not valid: unknown application or redirect address.",
    not_found: "This page was not found.",
    internal: "The server had a problem. Please try again later.",
    unavailable: "The service is briefly unavailable. Try again in a moment.",
    link_title: "Link your account to another institution",
    link_choose: "Choose the institution where you also have an account. Signing in there proves that the account is yours.",
    link_linked: "Already linked:",
    link_none_left: "There are no other institutions to link to.",
    link_search: "Find an institution by name",
    link_search_button: "Search",
    link_search_none: "No institution with that name was found.",
    link_search_more: "more institutions match; type more of the name to find yours.",
    link_sign_in_first: "To link accounts, first sign in on your school's site with single sign-on.",
    link_mismatch_title: "The accounts cannot be linked",
    link_mismatch: "The personal data of the accounts do not match; nothing was linked. Different:",
    link_uncorroborated: "Besides the name, the accounts share no field to compare (personal code, e-mail, phone, birth date). Add the missing data to your profile and try again.",
    link_review_title: "Check your data before linking",
    link_review: "The accounts belong to one person. Once linked, both institutions keep the same personal data. Where the values differ, choose the one to keep.",
    link_kept: "Kept",
    link_confirm: "Link the accounts",
    link_done_title: "The accounts are linked",
    link_done: "One sign-in now opens the sites of all your linked institutions.",
    link_already: "These accounts are already linked.",
    link_node_taken: "You already have another linked account at that institution.",
    link_unavailable: "The institution does not answer right now, or the account is gone. Please try again later.",
    back_to: "Back",
    eid_failed_title: "Signing in with ID card or Smart-ID did not work",
    eid_cancelled: "The sign-in was cancelled.",
    eid_invalid: "The identification service's answer was not valid; you were not signed in. Please try again.",
    eid_wrong_method: "You were identified by another method or at a lower level than asked; you were not signed in.",
    eid_no_code: "The identification service gave no valid personal code; you were not signed in.",
    eid_unavailable: "The identification service does not answer right now. Try again later or sign in with a password.",
    eid_state: "This answer does not belong to this sign-in. Please start again from your school's site.",
    eid_unknown_title: "No account found",
    eid_unknown: "This institution has no account with your personal code.",
    eid_ways: "If you have an account here, ask the school to add your personal code, or sign in with your username and password. A parent can submit their details and apply for an account.",
    sign_in_with_password: "Sign in with a password",
    not_linked_here: "You have no account at this institution linked to your other accounts. If you have an account here, sign in and link the accounts from your profile; if not, apply for one.",
    field_first_name: "first name",
    field_last_name: "last name",
    field_personal_code: "personal code",
    field_email: "e-mail",
    field_phone: "phone",
    field_address: "address",
    field_birth_date: "birth date",
    not_found_title: "Page not found",
    internal_title: "Server error",
    unavailable_title: "Briefly unavailable",
    request_id: "Request id",
    try_again: "Try again",
    logout_failed_title: "Signing out did not work",
    logout_failed: "Your sign-out could not be recorded, so you are still signed in. Please try again.",
    new_password_title: "Choose a new password",
    new_password_hint: "Your password is temporary. Choose a new one (at least 8 characters) before you go on.",
    new_password: "New password",
    new_password_again: "New password again",
    password_too_short: "The password must be at least 8 characters long.",
    passwords_differ: "The passwords are not the same.",
    save_and_continue: "Save and continue",
    control_characters: "The form held invisible control characters that no field accepts. Go back, correct what you typed and try again.",
    other_browser: "This step was begun in another browser, so no one was signed in here. Please start again from your school's site.",
    logout_confirm_title: "Signing out",
    logout_confirm: "Do you want to end your single sign-on? You will be signed out of every school you entered with it.",
    logout_button: "Sign out",
};

/// Where the IdP remembers the language a person chose (the switch) or a school asked for
/// (`ui_locales`), so that every later page speaks it.
pub const LANG_COOKIE: &str = "idp_lang";

/// `ui_locales` of the request first, then the remembered choice, then `Accept-Language`, then
/// Estonian.
pub fn texts(headers: &HeaderMap, ui_locales: Option<&str>) -> &'static Texts {
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let remembered = remembered(headers);
    let wanted = ui_locales
        .unwrap_or("")
        .split_whitespace()
        .chain(remembered.as_deref())
        .chain(accept.split(',').filter_map(|t| t.split(';').next()));
    for tag in wanted {
        if let Some(t) = supported(tag) {
            return t;
        }
    }
    &ET
}

/// The texts of a language tag (`en`, `en-GB`, `ET`), when the IdP speaks it.
pub fn supported(tag: &str) -> Option<&'static Texts> {
    match tag
        .trim()
        .split('-')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "et" => Some(&ET),
        "en" => Some(&EN),
        _ => None,
    }
}

fn remembered(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LANG_COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl Texts {
    pub fn field(&self, field: shared::profile::ProfileField) -> &'static str {
        use shared::profile::ProfileField as F;
        match field {
            F::FirstName => self.field_first_name,
            F::LastName => self.field_last_name,
            F::PersonalCode => self.field_personal_code,
            F::Email => self.field_email,
            F::Phone => self.field_phone,
            F::Address => self.field_address,
        }
    }

    /// A field the linking rule compared, with its stable name for pages and tests.
    pub fn compared(&self, field: shared::matching::Field) -> (&'static str, &'static str) {
        use shared::matching::Field as F;
        match field {
            F::PersonalCode => ("personal_code", self.field_personal_code),
            F::FirstName => ("first_name", self.field_first_name),
            F::LastName => ("last_name", self.field_last_name),
            F::Email => ("email", self.field_email),
            F::Phone => ("phone", self.field_phone),
            F::BirthDate => ("birth_date", self.field_birth_date),
        }
    }
}

//! The IdP's few words, Estonian by default, English when the browser asks for it.

use axum::http::HeaderMap;

pub struct Texts {
    pub lang: &'static str,
    pub federation: &'static str,
    pub sign_in: &'static str,
    pub username: &'static str,
    pub username_hint: &'static str,
    pub password: &'static str,
    pub forgot: &'static str,
    pub apply: &'static str,
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
    pub continue_: &'static str,
    pub not_found: &'static str,
    pub internal: &'static str,
}

pub static ET: Texts = Texts {
    lang: "et",
    federation: "Koolide ühine sisselogimine",
    sign_in: "Logi sisse",
    username: "Kasutajanimi",
    username_hint: "e-posti aadress või ees- ja perekonnanimi (võib kirjutada kokku või lahku, suure või väikese algustähega)",
    password: "Salasõna",
    forgot: "Unustasid salasõna?",
    apply: "Ava kasutajakonto: esita andmed ja taotle kontot »",
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
    continue_: "Jätka »",
    bad_logout: "Väljalogimise päring oli vigane: tundmatu rakendus või tagasisuunamise aadress.",
    not_found: "Seda lehte ei leitud.",
    internal: "Serveris tekkis viga. Proovi hiljem uuesti.",
};

pub static EN: Texts = Texts {
    lang: "en",
    federation: "Schools' single sign-on",
    sign_in: "Sign in",
    username: "Username",
    username_hint: "your e-mail address or first and last name (together or apart, in any case)",
    password: "Password",
    forgot: "Forgot your password?",
    apply: "Open an account: submit your details and apply »",
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
    continue_: "Continue »",
    bad_logout: "The sign-out request was not valid: unknown application or redirect address.",
    not_found: "This page was not found.",
    internal: "The server had a problem. Please try again later.",
};

/// `ui_locales` of the request first, then `Accept-Language`, then Estonian.
pub fn texts(headers: &HeaderMap, ui_locales: Option<&str>) -> &'static Texts {
    let accept = headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wanted = ui_locales
        .unwrap_or("")
        .split_whitespace()
        .chain(accept.split(',').filter_map(|t| t.split(';').next()));
    for tag in wanted {
        match tag
            .trim()
            .split('-')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
            .as_str()
        {
            "et" => return &ET,
            "en" => return &EN,
            _ => {}
        }
    }
    &ET
}

//! The letters the node sends, as text + HTML pairs, in Estonian, English or Russian. The subject
//! names the institution and carries two languages, as the schools' letters always have:
//! Estonian and the letter's own (English beside an Estonian letter).

use crate::i18n::Locale;
use crate::store::outbox::{NewMail, Purpose};

/// Who sends and in which language.
pub struct LetterContext<'a> {
    pub locale: Locale,
    pub institution: &'a str,
    pub site_url: &'a str,
}

fn html_of(text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .map(|p| {
            let lines: Vec<String> = p
                .lines()
                .map(|line| {
                    let escaped = escape(line);
                    match line.find("http") {
                        Some(i)
                            if line[i..].starts_with("http://")
                                || line[i..].starts_with("https://") =>
                        {
                            let url = escape(&line[i..]);
                            format!("{}<a href=\"{url}\">{url}</a>", escape(&line[..i]))
                        }
                        _ => escaped,
                    }
                })
                .collect();
            format!("<p>{}</p>", lines.join("<br>\n"))
        })
        .collect();
    format!(
        "<!doctype html>\n<html><body>\n{}\n</body></html>\n",
        paragraphs.join("\n")
    )
}

/// The subject in Estonian and in the letter's own language (English beside an Estonian one).
fn letter(
    purpose: Purpose,
    ctx: &LetterContext<'_>,
    to: &str,
    subjects: [&str; 3],
    text: String,
) -> NewMail {
    let [et, en, ru] = subjects;
    let other = match ctx.locale {
        Locale::Ru => ru,
        Locale::Et | Locale::En => en,
    };
    NewMail {
        purpose,
        recipient: to.to_owned(),
        subject: format!("[{}] {et} / {other}", ctx.institution),
        html: html_of(&text),
        text,
    }
}

pub fn sign_in_link(
    ctx: &LetterContext<'_>,
    to: &str,
    name: &str,
    link: &str,
    minutes: i64,
) -> NewMail {
    let text = match ctx.locale {
        Locale::Et => format!(
            "Tere, {name}!\n\nSellelt lingilt saad sisse logida ja endale salasõna valida:\n{link}\n\n\
             Link kehtib {minutes} minutit ja seda saab kasutada ühe korra.\n\
             Kui sa linki ei küsinud, ei pea sa midagi tegema: sinu salasõna jääb samaks.\n\n{}",
            ctx.institution
        ),
        Locale::En => format!(
            "Hello {name},\n\nUse this link to sign in and choose a password:\n{link}\n\n\
             The link works for {minutes} minutes and only once.\n\
             If you did not ask for it, you need not do anything: your password stays as it is.\n\n{}",
            ctx.institution
        ),
        Locale::Ru => format!(
            "Здравствуйте, {name}!\n\nПо этой ссылке вы можете войти и выбрать себе пароль:\n{link}\n\n\
             Ссылка действует {minutes} мин. и только один раз.\n\
             Если вы её не запрашивали, ничего делать не нужно: ваш пароль остаётся прежним.\n\n{}",
            ctx.institution
        ),
    };
    letter(
        Purpose::SignInLink,
        ctx,
        to,
        ["Sisselogimise link", "Sign-in link", "Ссылка для входа"],
        text,
    )
}

pub fn account_created(ctx: &LetterContext<'_>, to: &str, temporary_password: &str) -> NewMail {
    let site = ctx.site_url;
    let text = match ctx.locale {
        Locale::Et => format!(
            "Tere,\nsulle on loodud uus konto kooli hindamissüsteemi kasutamiseks.\n\n\
             Sisse saad logida aadressil {site}/\nAjutine salasõna on: {temporary_password}\n\
             (Seda pead muutma esimesel sisselogimisel.)\n\n\
             Sisselogimisel on kasutajanimeks meiliaadress või ees- ja perekonnanimi (võib kirjutada kokku \
             või lahku, suure või väikese algustähega).\n\n{}",
            ctx.institution
        ),
        Locale::En => format!(
            "Hello,\nan account has been created for you in the school's information system.\n\n\
             Sign in at {site}/\nYour temporary password is: {temporary_password}\n\
             (You will be asked to change it when you first sign in.)\n\n\
             Your username is your e-mail address or your first and last name (together or apart, in any case).\n\n{}",
            ctx.institution
        ),
        Locale::Ru => format!(
            "Здравствуйте!\nДля вас создана новая учётная запись для работы с системой оценок школы.\n\n\
             Войти можно по адресу {site}/\nВременный пароль: {temporary_password}\n\
             (Его нужно сменить при первом входе.)\n\n\
             Имя пользователя для входа — адрес электронной почты или имя и фамилия (можно писать слитно \
             или раздельно, с большой или маленькой буквы).\n\n{}",
            ctx.institution
        ),
    };
    letter(
        Purpose::AccountCreated,
        ctx,
        to,
        [
            "Hindamissüsteemi konto",
            "New account",
            "Новая учётная запись",
        ],
        text,
    )
}

pub fn children_added(ctx: &LetterContext<'_>, to: &str) -> NewMail {
    let site = ctx.site_url;
    let text = match ctx.locale {
        Locale::Et => format!(
            "Tere,\nsinu taotlus kiideti heaks: sinu olemasoleva kontoga on nüüd seotud sinu lapsed.\n\n\
             Sisse saad logida aadressil {site}/ oma senise kasutajanime ja salasõnaga.\n\n{}",
            ctx.institution
        ),
        Locale::En => format!(
            "Hello,\nyour application was approved: your children are now related to your existing account.\n\n\
             Sign in at {site}/ with your username and password as before.\n\n{}",
            ctx.institution
        ),
        Locale::Ru => format!(
            "Здравствуйте!\nВаше заявление одобрено: теперь с вашей учётной записью связаны ваши дети.\n\n\
             Войти можно по адресу {site}/ с прежним именем пользователя и паролем.\n\n{}",
            ctx.institution
        ),
    };
    letter(
        Purpose::ChildrenAdded,
        ctx,
        to,
        [
            "Taotlus kinnitatud",
            "Application approved",
            "Заявление одобрено",
        ],
        text,
    )
}

pub fn application_received(ctx: &LetterContext<'_>, to: &str) -> NewMail {
    let text = match ctx.locale {
        Locale::Et => format!(
            "Tere,\nsinu kontotaotlus on esitatud.\n\nKui kool taotluse heaks kiidab, saadetakse sellele \
             meiliaadressile sisse logimiseks vajalik info.\n\n{}",
            ctx.institution
        ),
        Locale::En => format!(
            "Hello,\nyour account application has been submitted.\n\nIf the school approves it, what you need \
             to sign in is sent to this e-mail address.\n\n{}",
            ctx.institution
        ),
        Locale::Ru => format!(
            "Здравствуйте!\nВаше заявление на учётную запись подано.\n\nЕсли школа одобрит заявление, \
             данные для входа будут отправлены на этот адрес электронной почты.\n\n{}",
            ctx.institution
        ),
    };
    letter(
        Purpose::ApplicationReceived,
        ctx,
        to,
        [
            "Taotlus on esitatud",
            "Application submitted",
            "Заявление подано",
        ],
        text,
    )
}

pub fn application_rejected(ctx: &LetterContext<'_>, to: &str, reason: &str) -> NewMail {
    let text = match ctx.locale {
        Locale::Et => format!(
            "Tere,\nkahjuks ei saanud kool sinu kontotaotlust heaks kiita.\n\nPõhjus: {reason}\n\n\
             Küsimuste korral pöördu palun kooli poole.\n\n{}",
            ctx.institution
        ),
        Locale::En => format!(
            "Hello,\nunfortunately the school could not approve your account application.\n\nReason: {reason}\n\n\
             If you have questions, please contact the school.\n\n{}",
            ctx.institution
        ),
        Locale::Ru => format!(
            "Здравствуйте!\nК сожалению, школа не смогла одобрить ваше заявление на учётную запись.\n\nПричина: {reason}\n\n\
             Если у вас есть вопросы, пожалуйста, обратитесь в школу.\n\n{}",
            ctx.institution
        ),
    };
    letter(
        Purpose::ApplicationRejected,
        ctx,
        to,
        [
            "Kontotaotlus",
            "Account application",
            "Заявление на учётную запись",
        ],
        text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_and_links() {
        let ctx = LetterContext {
            locale: Locale::Et,
            institution: "Jõgeva <Põhikool>",
            site_url: "http://jpk.localhost:8081",
        };
        let mail = sign_in_link(
            &ctx,
            "a@b.ee",
            "Mari & Jüri",
            "http://jpk.localhost:8081/reset/abc",
            60,
        );
        assert!(
            mail.subject
                .starts_with("[Jõgeva <Põhikool>] Sisselogimise link / Sign-in link")
        );
        assert!(mail.text.contains("http://jpk.localhost:8081/reset/abc"));
        assert!(mail.html.contains("Mari &amp; Jüri"));
        assert!(
            mail.html
                .contains("<a href=\"http://jpk.localhost:8081/reset/abc\">")
        );
        assert!(mail.html.contains("Jõgeva &lt;Põhikool&gt;"));
    }
}

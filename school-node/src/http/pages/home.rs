//! The dashboard: who you are, your roles, your children.

use askama::Template;

use crate::error::PageResult;
use crate::http::extract::SignedIn;
use crate::http::render::{Base, page};
use crate::service::accounts::{self, Account};
#[allow(unused_imports)] // used by the template
use crate::store::accounts::Role;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    base: Base,
    account: Account,
    children: Vec<Account>,
}

pub async fn show(SignedIn { ctx, account }: SignedIn) -> PageResult {
    let children = accounts::children(&ctx.state.db, &account.id).await?;
    page(HomePage {
        base: ctx.base().await?,
        account,
        children,
    })
}

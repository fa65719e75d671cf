// Every page type of both services, in Estonian, English and Russian, in headless Debian Chromium driven
// by playwright-core: axe-core (WCAG 2.1 A and AA rules) on each, and at 360 px wide whether the
// page scrolls sideways and whether any button, link or box to tick is smaller than 24×24 px.
// Then a keyboard-only walk: sign in, link two accounts and sign out with Tab, typing and Enter.
// With SHOTS set, screenshots of the main pages at 360 and 1280 px go there.
// Prints one JSON line with what it saw; the Rust test judges it.
//
// Environment: IDP, JPK, LAAGRI (base URLs of the demo federation), PASSWORD (the demo's),
// PEETER (Peeter Uus's temporary password), SHOTS (optional folder).
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const [idp, jpk, laagri] = [env('IDP'), env('JPK'), env('LAAGRI')];
const password = env('PASSWORD');
const shots = process.env.SHOTS;
if (shots) mkdirSync(shots, { recursive: true });
// The pages a reader of docs/ sees: the main ones, in Estonian.
const MAIN = new Set(['idp-sign-in', 'node-home', 'node-profile-linked', 'idp-link-review', 'node-admin-accounts',
  'node-apply', 'node-remove-link', 'idp-logout-confirm']);
const shoot = (name, lang) => shots && lang === 'et' && MAIN.has(name);
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const seen = { pages: [], walk: [], switch: {} };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
});

// What a page offers a person: axe's violations, sideways scrolling and small targets at 360 px.
async function audit(page, name, lang) {
  const entry = { name, lang, url: page.url(), title: await page.title() };
  entry.htmlLang = await page.getAttribute('html', 'lang');
  await page.setViewportSize({ width: 1280, height: 900 });
  if (shoot(name, lang)) await page.screenshot({ path: `${shots}/${name}-1280.png`, fullPage: true });
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  entry.violations = result;
  await page.setViewportSize({ width: 360, height: 740 });
  entry.sideways = await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
  entry.smallTargets = await page.evaluate(() => {
    const small = [];
    for (const el of document.querySelectorAll('a[href], button, input[type=checkbox], input[type=radio], summary, select')) {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (r.width === 0 || r.height === 0 || style.visibility === 'hidden') continue;
      if (el.closest('iframe')) continue;
      if (r.width < 24 || r.height < 24) small.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.value || '').trim().slice(0, 30)}" ${Math.round(r.width)}×${Math.round(r.height)}`);
    }
    return small;
  });
  if (shoot(name, lang)) await page.screenshot({ path: `${shots}/${name}-360.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  seen.pages.push(entry);
}

async function signInAtIdp(page, username, pw) {
  await page.fill('#username', username);
  await page.fill('#password', pw);
  await Promise.all([page.waitForNavigation(), page.click('main form[action="/login"] button[type=submit]')]);
}

async function pagesIn(lang) {
  // CSP is set aside only so that axe-core can be put into the page.
  const locales = { et: 'et-EE', en: 'en-GB', ru: 'ru-RU' };
  const context = await browser.newContext({ locale: locales[lang], bypassCSP: true });
  const page = await context.newPage();
  const visit = async (name, url) => { await page.goto(url); await audit(page, name, lang); };

  // Signed out.
  await visit('node-sign-in', `${jpk}/login?local=1`);
  await visit('node-forgot', `${jpk}/forgot`);
  await visit('node-apply', `${jpk}/apply`);
  await page.fill('#children_codes', '50001010006');
  await page.fill('#personal_code', { et: '38501010220', en: '37605030299', ru: '38602020224' }[lang]);
  await page.fill('#first_name', 'Peeter');
  await page.fill('#last_name', 'Kask');
  await page.fill('#email', `peeter.${lang}@example.ee`);
  await page.fill('#phone', '+372 5123 4567');
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  await audit(page, 'node-apply-confirm', lang);
  await page.fill('#email_again', `peeter.${lang}@example.ee`);
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  await audit(page, 'node-apply-done', lang);
  await visit('node-not-found', `${jpk}/no-such-page`);
  await visit('node-signed-out', `${jpk}/logged-out`);
  await visit('idp-not-found', `${idp}/no-such-page`);
  await visit('idp-unknown-client', `${idp}/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=http%3A%2F%2Fx`);
  await visit('idp-logout-confirm', `${idp}/logout`);

  // A temporary password: the IdP asks for a new one.
  await page.goto(`${jpk}/login`);
  await audit(page, 'idp-sign-in', lang);
  await signInAtIdp(page, 'Peeter Uus', env('PEETER'));
  await audit(page, 'idp-new-password', lang);
  await context.clearCookies();

  // The admin's pages.
  await page.goto(`${jpk}/login`);
  await signInAtIdp(page, 'Anne Direktor', password);
  await audit(page, 'node-home', lang);
  await visit('node-profile', `${jpk}/profile`);
  await visit('node-admin-accounts', `${jpk}/admin/accounts`);
  const first = await page.getAttribute('main a[href^="/admin/accounts/"]', 'href');
  await visit('node-admin-account', `${jpk}${first}`);
  await visit('node-admin-applications', `${jpk}/admin/applications`);
  await visit('node-admin-import', `${jpk}/admin/import`);
  await visit('node-admin-mail', `${jpk}/admin/mail`);
  await context.clearCookies();

  // A parent and a child's profile.
  await page.goto(`${jpk}/login`);
  await signInAtIdp(page, 'Jaan Tamm', password);
  // Linked at ten more institutions (the Rust test registered and linked them).
  await audit(page, 'node-home-ten-institutions', lang);
  if (lang === 'et') seen.tenInstitutions = await tenInstitutions(page);
  else await page.click('nav details.institutions summary');
  await audit(page, 'node-home-ten-institutions-open', lang);
  const child = await page.getAttribute('main a[href^="/children/"]', 'href');
  await visit('node-child', `${jpk}${child}`);
  await context.clearCookies();

  // Linking (Mari Maasikas at both schools), the review, the confirmation, removing the link.
  await page.goto(`${jpk}/login`);
  await signInAtIdp(page, 'Mari Maasikas', password);
  await page.goto(`${jpk}/link`);
  await audit(page, 'idp-link-choose', lang);
  await Promise.all([page.waitForNavigation(), page.click('a[href*="to=laagri"]')]);
  if (page.url().startsWith(`${idp}/login`)) await signInAtIdp(page, 'Mari Maasikas', password);
  await audit(page, 'idp-link-review', lang);
  await Promise.all([page.waitForNavigation(), page.click('main form[action="/link/confirm"] button[type=submit]')]);
  await audit(page, 'node-profile-linked', lang);
  // "Minu andmed" at the IdP, from the nav bar, and its question before a link goes.
  await Promise.all([page.waitForNavigation(), page.click('nav a[data-my-data]')]);
  await audit(page, 'idp-my-data', lang);
  await page.goto(`${idp}/me/links/remove?client_id=laagri&ui_locales=${lang}`);
  await audit(page, 'idp-my-data-remove-link', lang);
  await page.goto(`${jpk}/profile`);
  await Promise.all([page.waitForNavigation(), page.click('main form[action="/links/remove/confirm"] button')]);
  await audit(page, 'node-remove-link', lang);
  await Promise.all([page.waitForNavigation(), page.click('main form[action="/links/remove"] button')]);
  // Signing out at the IdP: its signed-out page.
  await Promise.all([page.waitForNavigation(), page.click('nav form[action="/logout"] button')]);
  await page.goto(`${idp}/logout`);
  await audit(page, 'idp-logout-confirm-signed-out', lang);

  // The operators' console: eID at the test broker as Tõnu Tundmatu, an operator.
  await context.clearCookies();
  await visit('console-sign-in', `${idp}/admin`);
  await Promise.all([page.waitForNavigation(), page.click('a[data-upstream="idcard"]')]);
  await Promise.all([page.waitForURL(`${idp}/admin`), page.click('button[data-code="39207070221"]')]);
  await audit(page, 'console-overview', lang);
  await visit('console-institutions', `${idp}/admin/institutions`);
  await visit('console-institution-from-file', `${idp}/admin/institutions/jpk`);
  await visit('console-institution-new', `${idp}/admin/institutions/new`);
  await page.fill('#client_id', `kunst-${lang}`);
  await page.fill('#name', lang === 'et' ? 'Kunstikool' : 'Art School');
  await page.fill('#redirect_uris', `https://kunst-${lang}.example.ee/sso/callback`);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/admin/institutions/new"] button[type=submit]')]);
  await audit(page, 'console-secret-once', lang);
  await visit('console-institution', `${idp}/admin/institutions/kunst-${lang}`);
  await visit('console-enrolment', `${idp}/admin/enrolment`);
  await page.fill('#name', 'Uus Kool');
  await page.fill('#client_id', `uus-${lang}`);
  await page.fill('#public_url', `https://uus-${lang}.example.ee`);
  await Promise.all([page.waitForNavigation(), page.click('main form[action="/admin/enrolment"] button[type=submit]')]);
  await audit(page, 'console-enrolment-token', lang);
  await visit('console-keys', `${idp}/admin/keys`);
  await visit('console-outbox', `${idp}/admin/outbox`);
  await visit('console-persons', `${idp}/admin/persons?q=Tamm`);
  const person = await page.getAttribute('main a[href^="/admin/persons/"]', 'href');
  await visit('console-person', `${idp}${person}`);
  await visit('console-events', `${idp}/admin/events`);
  await context.close();
}

// The nav bar of a person linked at ten more institutions: how tall it is at 1280 and 360 px, and
// whether the keyboard opens the list and reaches every institution in it. Leaves it open.
async function tenInstitutions(page) {
  const navHeight = () => page.evaluate(() => Math.round(document.querySelector('nav').getBoundingClientRect().height));
  const out = {};
  await page.setViewportSize({ width: 1280, height: 900 });
  out.navHeightWide = await navHeight();
  await page.setViewportSize({ width: 360, height: 740 });
  out.navHeight = await navHeight();
  out.listed = await page.locator('nav details.institutions a[data-institution]').count();
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const summary = await tabTo(page, (e) => e.tag === 'summary', 'the list of institutions');
  out.summary = summary.text;
  await page.keyboard.press('Enter');
  out.reached = [];
  for (let i = 0; i < out.listed; i += 1) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => document.activeElement?.getAttribute('data-institution'));
    if (id) out.reached.push(id);
  }
  out.openSideways = await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);
  await page.setViewportSize({ width: 1280, height: 900 });
  return out;
}

// Only the keyboard: Tab until the element wanted has focus, then type or press Enter.
async function tabTo(page, test, what) {
  for (let i = 0; i < 80; i += 1) {
    await page.keyboard.press('Tab');
    const el = await page.evaluate(() => {
      const a = document.activeElement;
      return a ? { tag: a.tagName.toLowerCase(), id: a.id, text: (a.textContent || a.value || '').trim(), href: a.getAttribute('href') || '', type: a.getAttribute('type') || '' } : null;
    });
    if (el && test(el)) return el;
  }
  throw new Error(`the keyboard never reached ${what} on ${page.url()}`);
}

async function keyboardWalk() {
  const context = await browser.newContext({ locale: 'et-EE' });
  const page = await context.newPage();
  const step = (what) => seen.walk.push({ what, url: page.url() });
  await page.goto(`${laagri}/login`);
  await tabTo(page, (e) => e.id === 'username', 'the username');
  await page.keyboard.type('Mari Maasikas');
  await tabTo(page, (e) => e.id === 'password', 'the password');
  await page.keyboard.type(password);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  step('signed in');
  await tabTo(page, (e) => e.href === '/profile', 'the profile link');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  await tabTo(page, (e) => e.href === '/link', '"Seo oma konto teise kooliga"');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  step('choosing an institution');
  await tabTo(page, (e) => e.href.includes('to=jpk'), 'Jõgeva Põhikool');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  if (page.url().startsWith(`${idp}/login`)) {
    await tabTo(page, (e) => e.id === 'username', 'the username');
    await page.keyboard.type('Mari Maasikas');
    await tabTo(page, (e) => e.id === 'password', 'the password');
    await page.keyboard.type(password);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  }
  step('review');
  await tabTo(page, (e) => e.tag === 'button' && e.type === 'submit', 'the confirm button');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const linked = (await page.content()).includes('data-institution="jpk"');
  step(linked ? 'linked' : 'not linked');
  await tabTo(page, (e) => e.tag === 'button' && /logi välja/i.test(e.text), 'the sign-out button');
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  await page.waitForLoadState('load');
  await page.goto(`${laagri}/profile`);
  step(page.url().startsWith(`${idp}/login`) ? 'signed out' : 'still signed in');
  await context.close();
}

// The English choice on a signed-out school page reaches the IdP's sign-in form.
async function languageCarriesOver() {
  const context = await browser.newContext({ locale: 'et-EE' });
  const page = await context.newPage();
  await page.goto(`${jpk}/login?local=1`);
  await Promise.all([page.waitForNavigation(), page.click('nav a[hreflang="en"]')]);
  seen.switch.back = page.url();
  await page.goto(`${jpk}/login`);
  seen.switch.idpUrl = page.url();
  seen.switch.idpLang = await page.getAttribute('html', 'lang');
  seen.switch.idpSwitch = await page.getAttribute('header .lang a', 'lang');
  // And Russian, chosen the same way.
  await page.goto(`${jpk}/login?local=1`);
  await Promise.all([page.waitForNavigation(), page.click('nav a[hreflang="ru"]')]);
  await page.goto(`${jpk}/login`);
  seen.switch.idpLangRu = await page.getAttribute('html', 'lang');
  seen.switch.idpSwitchRu = await page.$$eval('header .lang a', (links) => links.map((a) => a.getAttribute('lang')));
  await context.close();
}

try {
  await pagesIn('et');
  await pagesIn('en');
  await pagesIn('ru');
  await keyboardWalk();
  await languageCarriesOver();
} catch (e) {
  seen.failure = String(e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));

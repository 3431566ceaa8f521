// A page on the relay's own origin for the embed adapters' tests, served through Playwright's routing (no network):
// /standin/embed.html is the given HTML, which may load relay-beacon.js from the relay (/demo/relay-beacon.js) and
// /standin/<file> for each file given (an adapter from player/, a stand-in of a player's API from this folder).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repository = join(here, '..', '..', '..');

/** The files to serve: { 'relay-vimeo.js': 'player', 'vimeo-standin.js': 'test' }. */
function read(files) {
  return Object.fromEntries(Object.entries(files).map(([name, from]) =>
    [`/standin/${name}`, readFileSync(from === 'player' ? join(repository, 'player', name) : join(here, name), 'utf8')]));
}

/** Opens the page in a new context of the browser; its page errors are collected in errors. */
export async function openEmbedPage(browser, baseUrl, html, files) {
  const served = read(files);
  const context = await browser.newContext();
  await context.route(`${baseUrl}/standin/**`, route => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/standin/embed.html') return route.fulfill({ contentType: 'text/html', body: html });
    if (served[path]) return route.fulfill({ contentType: 'text/javascript', body: served[path] });
    return route.fulfill({ status: 404, body: 'not here' });
  });
  const page = await context.newPage();
  const errors = [];
  page.on('console', message => console.error(`[page] ${message.type()}: ${message.text()}`));
  page.on('pageerror', error => { errors.push(error.message); console.error(`[page] error: ${error.message}`); });
  await page.goto(`${baseUrl}/standin/embed.html`);
  return { context, page, errors };
}

/** HubSpot's tracking code sets hubspotutk on a customer's page; the test pages make one up, as the demo page does. */
export const utkCookie = `document.cookie = 'hubspotutk=' + Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, '0')).join('') + '; path=/; SameSite=Lax';`;

/** Leaves the page (the tracker sends end on pagehide) and gives sendBeacon the time to go before the context closes. */
export async function leave({ context, page }) {
  await page.goto('about:blank');
  await page.waitForTimeout(1500);
  await context.close();
}

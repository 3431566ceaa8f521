// Opens the relay's operator view in headless Chromium (Debian's chromium through playwright-core), as an operator
// would: reads what the page shows for one portal over the last hour, switches to the last day, and takes screenshots.
// Prints what the page showed as JSON on stdout.
//
//   node operator-view.mjs <relay base URL> <portal id> <artifacts folder> [<query, such as ?code=the-master-key>]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const [baseUrl, portalId, artifacts, query = ''] = process.argv.slice(2);
if (!baseUrl || !portalId || !artifacts) {
  console.error('usage: node operator-view.mjs <relay base URL> <portal id> <artifacts folder>');
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1150, height: 900 } });
  page.on('console', message => console.error(`[page] ${message.type()}: ${message.text()}`));
  page.on('pageerror', error => console.error(`[page] error: ${error.message}`));

  // What a card shows: each figure's text, and how many marks each plot's series drew.
  const read = () => page.evaluate(portal => {
    const card = document.querySelector(`[data-portal="${portal}"]`);
    if (!card) return null;
    const figures = {};
    card.querySelectorAll('[data-figure]').forEach(node => {
      const cells = node.querySelectorAll('td');
      const pairs = node.querySelectorAll('.pairs span');
      const number = node.querySelector('b');
      figures[node.getAttribute('data-figure')] = cells.length === 2 ? cells[1].textContent
        : pairs.length > 0 ? Array.from(pairs, pair => pair.textContent).join(', ')
        : number ? number.textContent
        : node.textContent.trim();
    });
    const plots = {};
    card.querySelectorAll('[data-plot]').forEach(plot => {
      const marks = {};
      plot.querySelectorAll('[data-series]').forEach(mark => {
        const series = mark.getAttribute('data-series');
        marks[series] = (marks[series] || 0) + 1;
      });
      plots[plot.getAttribute('data-plot')] = marks;
    });
    const token = card.querySelector('[data-figure="token"]');
    return { figures, plots, tokenClass: token ? token.className : null };
  }, portalId);

  await page.goto(`${baseUrl}/operator${query}`);
  await page.waitForSelector(`[data-portal="${portalId}"]`, { timeout: 30000 });
  const hour = await read();
  await page.locator(`[data-portal="${portalId}"]`).screenshot({ path: join(artifacts, 'operator-view.png') });
  await page.screenshot({ path: join(artifacts, 'operator-view-page.png'), fullPage: true });

  await page.click('[data-range="day"]');
  const day = await read();

  console.log(JSON.stringify({ hour, day, screenshots: ['operator-view.png', 'operator-view-page.png'], url: page.url() }));
} finally {
  await browser.close();
}

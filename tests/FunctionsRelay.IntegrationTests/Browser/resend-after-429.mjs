// A viewer whose portal's ingest limit is spent: headless Chromium plays the relay's demo page while the relay answers
// many of its requests 429 with Retry-After; the page stays open until the player says every beacon was taken. Prints
// the session id and how the relay answered the page's beacon requests, as JSON on stdout.
//
//   node resend-after-429.mjs <relay base URL> <portal id> <the portal's publishable key>
import { launchChromium } from './chromium.mjs';

const [baseUrl, portalId, key] = process.argv.slice(2);
if (!baseUrl || !portalId || !key) {
  console.error('usage: node resend-after-429.mjs <relay base URL> <portal id> <the portal\'s publishable key>');
  process.exit(2);
}

const browser = await launchChromium({ autoplay: true });
try {
  const page = await browser.newPage();
  const answers = [];
  page.on('console', message => console.error(`[page] ${message.type()}: ${message.text()}`));
  page.on('pageerror', error => console.error(`[page] error: ${error.message}`));
  page.on('response', response => {
    if (response.url().includes('/api/beacons')) answers.push({ status: response.status(), retryAfter: response.headers()['retry-after'] ?? null });
  });

  await page.goto(`${baseUrl}/demo?portalId=${portalId}&key=${encodeURIComponent(key)}&seconds=4&heartbeat=1&mediaId=resend-tone&mediaName=Resent`);
  await page.waitForFunction(() => document.getElementById('player').readyState >= 4);
  await page.evaluate(() => document.getElementById('player').play());
  await page.waitForFunction(() => document.getElementById('player').ended, null, { timeout: 30000, polling: 50 });
  const sessionId = await page.evaluate(() => window.relayTracker.sessionId);
  // The session ends with the page still open, so that the player itself must send again what was refused.
  await page.evaluate(() => window.relayTracker.end());
  await page.waitForFunction(() => window.relayTracker.unsent === 0, null, { timeout: 90000, polling: 200 });

  console.log(JSON.stringify({ sessionId, answers }));
} finally {
  await browser.close();
}

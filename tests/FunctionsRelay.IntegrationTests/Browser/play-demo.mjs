// Drives the relay's demo page in headless Chromium (Debian's chromium through playwright-core) like a viewer:
// plays the demo tone, seeks back while playing, plays on to the end, leaves the page; then opens the demo page again
// and waits for that session's heat strip. Prints what the browser really played as JSON on stdout.
//
//   node play-demo.mjs <relay base URL> <portal id> <the portal's publishable key> <artifacts folder>
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const [baseUrl, portalId, key, artifacts] = process.argv.slice(2);
if (!baseUrl || !portalId || !key || !artifacts) {
  console.error('usage: node play-demo.mjs <relay base URL> <portal id> <the portal\'s publishable key> <artifacts folder>');
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

const seconds = 8;
const seekAt = 5.65;
const seekTo = 2;

const browser = await launchChromium({ autoplay: true });
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  const page = await context.newPage();
  page.on('console', message => console.error(`[page] ${message.type()}: ${message.text()}`));
  page.on('pageerror', error => console.error(`[page] error: ${error.message}`));

  await page.goto(`${baseUrl}/demo?portalId=${portalId}&key=${encodeURIComponent(key)}&seconds=${seconds}&heartbeat=1&mediaId=e2e-tone&mediaName=E2E%20tone`);
  await page.waitForFunction(() => document.getElementById('player').readyState >= 4);
  const startPosition = await page.evaluate(() => document.getElementById('player').play().then(() => document.getElementById('player').currentTime));

  await page.waitForFunction(at => document.getElementById('player').currentTime >= at, seekAt, { polling: 10 });
  // Read where the playhead is and jump in the same task, so `from` is exactly where playback left off.
  const seek = await page.evaluate(to => {
    const player = document.getElementById('player');
    const from = player.currentTime;
    player.currentTime = to;
    return { from, to };
  }, seekTo);
  await page.screenshot({ path: join(artifacts, 'demo-playing.png'), fullPage: true });

  await page.waitForFunction(() => document.getElementById('player').ended, null, { timeout: 30000, polling: 50 });
  const played = await page.evaluate(() => {
    const player = document.getElementById('player');
    const ranges = [];
    for (let i = 0; i < player.played.length; i++) ranges.push([player.played.start(i), player.played.end(i)]);
    return { sessionId: window.relayTracker.sessionId, duration: player.duration, playedRanges: ranges };
  });

  // Leaving the page ends the session: the script sends `end` on pagehide.
  await page.goto('about:blank');
  await page.close();

  const viewer = await context.newPage();
  await viewer.goto(`${baseUrl}/demo?portalId=${portalId}&key=${encodeURIComponent(key)}&seconds=${seconds}`);
  await viewer.waitForSelector(`[data-session="${played.sessionId}"] .heat`, { timeout: 60000 });
  await viewer.screenshot({ path: join(artifacts, 'demo-heat-strip.png'), fullPage: true });

  console.log(JSON.stringify({
    sessionId: played.sessionId,
    duration: played.duration,
    passes: [[startPosition, seek.from], [seek.to, played.duration]],
    playedRanges: played.playedRanges,
    screenshots: ['demo-playing.png', 'demo-heat-strip.png'],
  }));
} finally {
  await browser.close();
}

// Drives the relay's demo page with one of the players it serves from npm (video.js, hls.js, Shaka Player) in headless
// Chromium: plays 0-5 s of an 8 s media, pauses, seeks back to 2 s while paused, plays to the end, then the player is
// destroyed and made again (a second session, played 2.5 s) and the page left; between the two, the adapter is handed
// nothing and a broken player, which must not throw into the page. For hls.js and Shaka it then opens the live stream,
// plays 4 s, seeks 3 s back in its DVR window, plays 2 s more and leaves. Prints what the browser played as JSON.
//
//   node play-library.mjs <relay base URL> <portal id> <the portal's publishable key> <videojs | hls | shaka>
import { launchChromium } from './chromium.mjs';

const [baseUrl, portalId, key, library] = process.argv.slice(2);
if (!baseUrl || !portalId || !key || !['videojs', 'hls', 'shaka'].includes(library)) {
  console.error('usage: node play-library.mjs <relay base URL> <portal id> <the portal\'s publishable key> <videojs | hls | shaka>');
  process.exit(2);
}

// The element hls.js and Shaka play into, read and moved as a page would.
const elementControls = {
  ready: () => document.querySelector('video').readyState >= 3 && document.querySelector('video').duration > 0,
  time: () => document.querySelector('video').currentTime,
  play: () => document.querySelector('video').play(),
  pause: () => document.querySelector('video').pause(),
  seek: to => { document.querySelector('video').currentTime = to; },
  reached: at => document.querySelector('video').currentTime >= at,
  ended: () => document.querySelector('video').ended,
  duration: () => document.querySelector('video').duration,
};

// The same reads and moves whatever the player, and how a page makes the player again; where the live stream is.
const controls = {
  videojs: {
    ready: () => window.relayPlayer && window.relayPlayer.readyState() >= 4,
    time: () => window.relayPlayer.currentTime(),
    play: () => window.relayPlayer.play(),
    pause: () => window.relayPlayer.pause(),
    seek: to => window.relayPlayer.currentTime(to),
    reached: at => window.relayPlayer.currentTime() >= at,
    ended: () => window.relayPlayer.ended(),
    duration: () => window.relayPlayer.duration(),
    // Disposed, and a new player made on a new element: the page's plugin call again.
    remake: options => {
      window.relayPlayer.dispose();
      const element = document.createElement('video');
      element.className = 'video-js';
      document.getElementById('stage').prepend(element);
      window.relayPlayer = videojs(element, { sources: [{ src: '/demo/tone.wav?seconds=8', type: 'audio/wav' }] });
      window.relayTracker = window.relayPlayer.relayBeacon(options);
    },
  },
  hls: {
    ...elementControls,
    // hls.js destroyed (its element detached), a new instance on the same element: the page's helper call again.
    remake: options => {
      window.relayPlayer.destroy();
      const hls = new Hls();
      hls.loadSource('/demo/hls/vod.m3u8?seconds=8');
      hls.attachMedia(document.querySelector('video'));
      window.relayPlayer = hls;
      window.relayTracker = FunctionsRelay.trackHls(hls, options);
    },
    live: 'player=hls-live',
  },
  shaka: {
    ...elementControls,
    // The Shaka player destroyed (it detaches), a new one attached to the same element: the page's helper call again.
    remake: async options => {
      await window.relayPlayer.destroy();
      const player = new shaka.Player();
      window.relayPlayer = player;
      window.relayTracker = FunctionsRelay.trackShaka(player, options);
      await player.attach(document.querySelector('video'));
      await player.load('/demo/hls/vod.m3u8?seconds=8');
    },
    live: 'player=shaka&src=%2Fdemo%2Fhls%2Flive.m3u8',
  },
}[library];

const fn = f => `(${f})`;
const errors = [];
let misusing = false;
const browser = await launchChromium({ autoplay: true });
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', message => {
    console.error(`[page] ${message.type()}: ${message.text()}`);
    // A warning of the tracker's while it follows a player that is used as documented is a failure too.
    if (message.type() === 'warning' && message.text().includes('[FunctionsRelay]') && !misusing) errors.push(message.text());
  });
  page.on('pageerror', error => { errors.push(error.message); console.error(`[page] error: ${error.message}`); });
  const call = (f, arg) => page.evaluate(`${fn(f)}(${JSON.stringify(arg ?? null)})`);
  const until = (f, arg, timeout = 30000) => page.waitForFunction(`${fn(f)}(${JSON.stringify(arg ?? null)})`, null, { timeout, polling: 10 });
  const query = `portalId=${portalId}&key=${encodeURIComponent(key)}&seconds=8&heartbeat=1`;

  await page.goto(`${baseUrl}/demo?player=${library}&${query}&mediaId=${library}-e2e&mediaName=${library}%20E2E`);
  await page.waitForFunction(() => window.relayTracker);
  await until(controls.ready);
  const start = await call(controls.time);
  await call(controls.play);
  await until(controls.reached, 5);
  // Pause and read where it stopped in the same task; then seek back while paused and play to the end.
  const pausedAt = await page.evaluate(`(() => { ${fn(controls.pause)}(); return ${fn(controls.time)}(); })()`);
  await call(controls.seek, 2);
  await page.waitForTimeout(300);
  await call(controls.play);
  await until(controls.ended);
  const duration = await call(controls.duration);
  const sessionId = await page.evaluate(() => window.relayTracker.sessionId);

  const options = await page.evaluate(() => ({
    endpoint: '/api/beacons', portalId: Number(new URLSearchParams(location.search).get('portalId')),
    key: new URLSearchParams(location.search).get('key'), heartbeatSeconds: 1,
    media: { externalId: new URLSearchParams(location.search).get('mediaId'), name: new URLSearchParams(location.search).get('mediaName'), type: 'AUDIO' },
  }));
  // What a page may do wrong never throws into it: nothing to follow, a broken player (each call warns instead).
  misusing = true;
  await page.evaluate(() => {
    const broken = () => { throw new Error('broken'); };
    const player = { on: broken, off: broken, currentTime: broken, media: null, addEventListener: broken, removeEventListener: broken, getMediaElement: broken };
    for (const track of [FunctionsRelay.trackVideoJs, FunctionsRelay.trackHls, FunctionsRelay.trackShaka].filter(Boolean)) {
      track(null);
      track(player);
    }
  });
  misusing = false;
  await call(controls.remake, options);
  await until(controls.ready);
  await call(controls.play);
  await until(controls.reached, 2.5);
  const secondSessionId = await page.evaluate(() => window.relayTracker.sessionId);
  await page.goto('about:blank');
  await page.waitForTimeout(1500);

  let live = null;
  if (controls.live) {
    await page.goto(`${baseUrl}/demo?${controls.live}&${query}&mediaId=live-e2e&mediaName=Live%20E2E`);
    await page.waitForFunction(() => window.relayTracker);
    await page.waitForFunction(() => document.querySelector('video').readyState >= 3, null, { timeout: 30000 });
    await page.evaluate(() => document.querySelector('video').play());
    const liveStart = await page.evaluate(() => document.querySelector('video').currentTime);
    await page.waitForFunction(at => document.querySelector('video').currentTime >= at, liveStart + 4, { timeout: 30000, polling: 50 });
    const seek = await page.evaluate(() => {
      const video = document.querySelector('video');
      const from = video.currentTime;
      video.currentTime = from - 3;
      return { from, to: from - 3 };
    });
    await page.waitForFunction(at => document.querySelector('video').currentTime >= at, seek.to + 2, { timeout: 30000, polling: 50 });
    live = { sessionId: await page.evaluate(() => window.relayTracker.sessionId), seek, unsent: await page.evaluate(() => window.relayTracker.unsent) };
    await page.goto('about:blank');
    await page.waitForTimeout(1500);
  }
  await context.close();

  console.log(JSON.stringify({
    sessionId,
    secondSessionId,
    duration,
    passes: [[start, pausedAt], [2, duration]],
    live,
    errors,
  }));
} finally {
  await browser.close();
}

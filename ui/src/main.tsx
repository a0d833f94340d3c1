import { render } from 'preact';
import { App } from './App';
import './style.css';

async function boot() {
  // The shell loads index.html?vibrancy when its window is transparent with macOS vibrancy.
  if (new URLSearchParams(location.search).has('vibrancy')) document.documentElement.classList.add('vibrancy');
  // `npm run dev` + /?mock fakes a whole first launch in the browser. Dropped from production builds.
  if (import.meta.env.DEV && new URLSearchParams(location.search).has('mock')) {
    const { installDevMock } = await import('./mock/dev');
    installDevMock(new URLSearchParams(location.search));
  }
  render(<App />, document.getElementById('app')!);
}

boot();

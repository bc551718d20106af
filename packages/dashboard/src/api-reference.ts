// The API reference page (/docs): Redoc's standalone bundle, emitted by Vite as a hashed asset of
// this build and loaded from the same origin, so the page needs no CDN and runs under the
// dashboard's CSP (scripts from 'self' only; Redoc's styles are inline, which that CSP allows).
import redocBundle from 'redoc/bundles/redoc.standalone.js?url';

interface RedocGlobal {
  init(documentUrl: string, options: Record<string, unknown>, element: HTMLElement): void;
}

const element = document.getElementById('reference')!;
const script = document.createElement('script');
script.src = redocBundle;
script.onload = () => {
  const redoc = (window as unknown as { Redoc: RedocGlobal }).Redoc;
  redoc.init(
    element.dataset.document ?? '/api/openapi.yaml',
    {
      // Redoc's search runs in a Web Worker made from a blob: URL, which the CSP (rightly) refuses.
      disableSearch: true,
      // Nothing fetched from elsewhere: the fonts are the system's.
      theme: {
        typography: {
          fontFamily: 'system-ui, sans-serif',
          headings: { fontFamily: 'system-ui, sans-serif' },
        },
      },
      hideDownloadButton: false,
      expandResponses: '200,201',
    },
    element,
  );
};
script.onerror = () => {
  element.textContent = 'The API reference could not load; the document is at /api/openapi.yaml.';
};
document.head.append(script);

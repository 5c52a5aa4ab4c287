/** Building the page's DOM in code: elements with props and children, and the elements index.html must have. */

export type Child = Node | string | number | null | undefined | false;
export type Props = Readonly<Record<string, string | number | boolean | undefined>>;

/**
 * `el('td', { className: 'num', 'data-id': id }, child, ...)`. `style` is applied through the CSSOM: the
 * served page's CSP refuses style attributes. `false` and `undefined` props are left out, `true` is an
 * empty attribute.
 */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (key === 'className') node.className = String(value);
    else if (key === 'style') node.style.cssText = String(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

export function append(node: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** An element of index.html; a missing one is a bug of the page, not a state to handle. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} missing from index.html`);
  return node as T;
}

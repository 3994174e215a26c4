/** The part of a camera's picture a model sees: a region of interest, then a rotation. */
export interface FrameView {
  /** In the camera's own pixels, before rotation. */
  readonly crop?: { readonly left: number; readonly top: number; readonly width: number; readonly height: number };
  /** Clockwise degrees, applied after the crop. */
  readonly rotate?: 0 | 90 | 180 | 270;
}

/*
 * A camera's view travels with the encoded bytes of its frames rather than as an argument,
 * so every consumer of a frame's data (each routed model, explanations) decodes the same
 * view without each signature on the way learning about cameras. A WeakMap lookup costs
 * no allocation and the entry goes with the buffer.
 */
const views = new WeakMap<Uint8Array, FrameView>();

/** Marks `data` as seen through `view` (nothing to do for a view that changes nothing); returns `data`. */
export function withView<T extends Uint8Array>(data: T, view: FrameView | undefined): T {
  if (view && (view.crop || (view.rotate ?? 0) !== 0)) views.set(data, view);
  return data;
}

/** The view a frame's bytes were marked with, if any. */
export function viewOf(data: Uint8Array): FrameView | undefined {
  return views.get(data);
}

/** Why `view` cannot be applied to a `width` × `height` image, or undefined when it can. */
export function viewMismatch(view: FrameView, width: number, height: number): string | undefined {
  const c = view.crop;
  if (!c) return undefined;
  if (c.left + c.width <= width && c.top + c.height <= height) return undefined;
  return `region of interest ${c.width}x${c.height} at ${c.left},${c.top} lies outside the ${width}x${height} image`;
}

/** The view's crop in the coordinates of the picture turned by the view's rotation. */
export function rotatedCrop(view: FrameView, width: number, height: number): { left: number; top: number; width: number; height: number } {
  const c = view.crop ?? { left: 0, top: 0, width, height };
  switch (view.rotate ?? 0) {
    case 90:
      return { left: height - c.top - c.height, top: c.left, width: c.height, height: c.width };
    case 180:
      return { left: width - c.left - c.width, top: height - c.top - c.height, width: c.width, height: c.height };
    case 270:
      return { left: c.top, top: width - c.left - c.width, width: c.height, height: c.width };
    default:
      return c;
  }
}

/** File names inside a bundle folder; a folder holding manifest.json is a complete bundle. */
export const BUNDLE_MANIFEST = 'manifest.json';
export const BUNDLE_MODEL = 'model.onnx';

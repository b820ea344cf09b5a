-- The Roman WFI filters (facts.md), in both spellings.
INSERT INTO filters (name, band, wavelength_um, zeropoint_ab) VALUES
  ('F062', 'R062', 0.620, 26.58),
  ('F087', 'Z087', 0.869, 26.23),
  ('F106', 'Y106', 1.060, 26.32),
  ('F129', 'J129', 1.293, 26.32),
  ('F158', 'H158', 1.577, 26.32),
  ('F184', 'F184', 1.842, 25.85),
  ('F213', 'K213', 2.125, 25.81),
  ('F146', 'W146', 1.464, 27.54)
ON CONFLICT (name) DO NOTHING;

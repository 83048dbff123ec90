namespace DmEra.Metadata.Tests.Interop;

/// <summary>How full a generated writeset is: the cases a bitset encoder gets wrong differ by density.</summary>
public enum WritesetDensity { Empty, Sparse, Runs, Dense, Full }

/// <summary>How a generated era array is filled.</summary>
public enum EraArrayPattern { AllZero, Scattered, Runs }

/// <summary>
/// One generated writeset. Bits come from a hash of (seed, index, block), so any bit can be asked for
/// at any time without storing the set.
/// </summary>
public sealed record WritesetShape(uint Era, uint NrBits, WritesetDensity Density, double Probability, uint RunLength);

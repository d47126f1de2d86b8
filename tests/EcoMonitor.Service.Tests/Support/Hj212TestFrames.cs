using System.Text;

namespace EcoMonitor.Service.Tests.Support;

/// <summary>HJ 212 frames built by the tests with a CRC implementation of their own (same definition as the
/// standard's, other code), so what the product emits is checked against something it did not compute itself.</summary>
public static class Hj212TestFrames
{
    public static string Crc(string segment) =>
        Encoding.ASCII.GetBytes(segment).Aggregate(0xFFFF, (reg, b) =>
        {
            reg = (reg >> 8) ^ b;
            for (var i = 0; i < 8; i++) reg = (reg & 1) == 1 ? (reg >> 1) ^ 0xA001 : reg >> 1;
            return reg;
        }).ToString("X4");

    public static string Frame(string segment) => $"##{segment.Length:D4}{segment}{Crc(segment)}\r\n";
}
